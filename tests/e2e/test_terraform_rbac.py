"""docs/rbac.md's recipes, run as written, with real Terraform 1.0.3 and 1.15.5.

The ``taco`` commands of the "CI per environment" and "outputs-only
consumers" recipes set up RBAC on a real ``opentacosvc`` (auth on, a fresh
install, so deny by default); the HCL blocks of the recipes are the
Terraform configurations, with only the server's address put in. Then:

- the ``ci-dev`` token applies ``dev/app`` and is refused on ``prod/app``,
  where Terraform shows the backend's 403;
- the outputs-only token's ``terraform_remote_state`` reads ``prod/app``'s
  outputs, while ``terraform state pull`` with it shows no resources and no
  sensitive output.

One server serves the module (both Terraform versions in turn).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import attrs
import httpx
import pytest

from tests.cli.conftest import Taco
from tests.e2e.terraform import GREETING_CONFIG, Terraform, write_config
from tests.servers import Server, running_server

pytestmark = pytest.mark.e2e

DOC = Path(__file__).resolve().parents[2] / "docs" / "rbac.md"
PLACEHOLDER = "https://taco.example.com"
INIT = ("init", "-input=false", "-no-color")
APPLY = ("apply", "-input=false", "-auto-approve", "-no-color")
SECRET = "hunter2-do-not-leak"


def recipe(name: str) -> str:
    """The code block under ``<!-- recipe: NAME -->`` in docs/rbac.md."""
    found = re.search(
        rf"<!-- recipe: {re.escape(name)} -->\n```\w+\n(.*?)```", DOC.read_text(), re.DOTALL
    )
    assert found, f"docs/rbac.md has no recipe {name!r}"
    return found.group(1)


def commands(block: str) -> list[list[str]]:
    """The shell commands of a recipe, split as a shell would."""
    return [shlex.split(line) for line in block.splitlines() if line.strip()]


@attrs.frozen
class Deployment:
    server: Server
    admin: str
    ci: str
    consumer: str

    def hcl(self, name: str) -> str:
        return recipe(name).replace(PLACEHOLDER, self.server.url)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A fresh server with auth on, set up by running the recipes' taco
    commands as the bootstrap admin; the tokens they print are kept."""
    base = tmp_path_factory.mktemp("rbac")
    with running_server(base / "svc", auth_disable=False) as server:
        admin = (base / "svc" / "data" / "admin-token").read_text().strip()
        (base / "cli").mkdir()
        taco = Taco(base / "cli", server.url)
        tokens: dict[str, str] = {}
        for name in ("ci-setup", "outputs-setup"):
            for argv in commands(recipe(name)):
                assert argv[0] == "taco", argv
                env = {"OPENTACO_TOKEN": admin}
                if argv[1:3] == ["token", "create"]:
                    tokens[name] = taco.ok(*argv[1:], "--json", env=env).json()["token"]
                else:
                    taco.ok(*argv[1:], env=env)
        yield Deployment(server, admin, tokens["ci-setup"], tokens["outputs-setup"])


def with_env(terraform: Terraform, **env: str) -> Terraform:
    return attrs.evolve(terraform, env={**terraform.env, **env})


def test_ci_token_applies_dev_and_is_refused_on_prod(
    terraform: Terraform, deployment: Deployment, tmp_path: Path
) -> None:
    """The ci-dev token (write, lock, read on dev/*) applies dev/app; the same
    configuration pointed at prod/app stops at init with Terraform's message
    for a 403, and prod/app gets nothing."""
    ci = with_env(terraform, TF_HTTP_PASSWORD=deployment.ci)
    backend = deployment.hcl("ci-backend")
    dev = write_config(tmp_path / "dev", backend, GREETING_CONFIG)
    ci.run(*INIT, cwd=dev)
    ci.run(*APPLY, "-var", f"n={terraform.version}", cwd=dev)
    url = deployment.server.url
    state = httpx.get(f"{url}/v1/backend/dev/app", auth=("ci", deployment.ci)).json()
    assert state["outputs"]["greeting"]["value"] == f"hello-{terraform.version}"
    versions = httpx.get(f"{url}/v1/units/dev/app/versions", auth=("a", deployment.admin))
    assert versions.json()["versions"][0]["author"] == "ci-dev"

    assert backend.count("dev/app") == 3
    prod = write_config(tmp_path / "prod", backend.replace("dev/app", "prod/app"), GREETING_CONFIG)
    refused = ci.run(*INIT, cwd=prod, check=False)
    assert refused.returncode != 0, refused.describe()
    assert "HTTP remote state endpoint invalid auth" in refused.output, refused.describe()
    history = httpx.get(f"{url}/v1/units/prod/app/versions", auth=("a", deployment.admin))
    assert history.status_code == 404 or all(
        v["author"] != "ci-dev" for v in history.json()["versions"]
    )


def produce_prod_app(terraform: Terraform, deployment: Deployment, work: Path) -> None:
    """An admin applies prod/app: a resource (a data source, kept in state),
    a public output and a sensitive one."""
    url = deployment.server.url
    base = httpx.get(f"{url}/v1/backend/shared/base", auth=("a", deployment.admin))
    if base.status_code == 404:
        seed = {
            "version": 4,
            "terraform_version": "1.0.3",
            "serial": 1,
            "lineage": "base",
            "outputs": {"region": {"value": "eu-west-1", "type": "string"}},
            "resources": [],
        }
        posted = httpx.post(
            f"{url}/v1/backend/shared/base", json=seed, auth=("a", deployment.admin)
        )
        assert posted.status_code == 200, posted.text
    address = f"{url}/v1/backend/prod/app"
    config = f"""\
terraform {{
  backend "http" {{
    address        = "{address}"
    lock_address   = "{address}"
    unlock_address = "{address}"
    username       = "admin"
  }}
}}

data "terraform_remote_state" "base" {{
  backend = "http"
  config = {{
    address  = "{url}/v1/backend/shared/base"
    username = "admin"
    password = "{deployment.admin}"
  }}
}}

output "db_endpoint" {{
  value = "db.${{data.terraform_remote_state.base.outputs.region}}.internal:5432"
}}

output "db_password" {{
  value     = "{SECRET}"
  sensitive = true
}}
"""
    admin = with_env(terraform, TF_HTTP_PASSWORD=deployment.admin)
    producer = write_config(work, config)
    admin.run(*INIT, cwd=producer)
    admin.run(*APPLY, cwd=producer)


def test_outputs_only_token_reads_outputs_and_nothing_else(
    terraform: Terraform, deployment: Deployment, tmp_path: Path
) -> None:
    """terraform_remote_state with the outputs-only token gets prod/app's
    outputs; terraform state pull with it shows no resources and no
    sensitive output, while the admin's pull shows both."""
    produce_prod_app(terraform, deployment, tmp_path / "producer")
    consumer_tf = with_env(terraform, TF_VAR_taco_token=deployment.consumer)
    consumer = write_config(tmp_path / "consumer", deployment.hcl("outputs-consumer"))
    consumer_tf.run(*INIT, cwd=consumer)
    consumer_tf.run(*APPLY, cwd=consumer)
    outputs = json.loads(consumer_tf.run("output", "-json", cwd=consumer).stdout)
    assert outputs["db_endpoint"]["value"] == "db.eu-west-1.internal:5432"

    pull = write_config(tmp_path / "pull", deployment.hcl("outputs-pull"))
    reader = with_env(terraform, TF_HTTP_PASSWORD=deployment.consumer)
    reader.run(*INIT, cwd=pull)
    pulled = reader.run("state", "pull", cwd=pull)
    doc = json.loads(pulled.stdout)
    assert doc["resources"] == []
    assert set(doc["outputs"]) == {"db_endpoint"}
    assert SECRET not in pulled.stdout and "db_password" not in pulled.stdout

    admin = with_env(terraform, TF_HTTP_PASSWORD=deployment.admin)
    full = json.loads(admin.run("state", "pull", cwd=pull).stdout)
    assert [r["mode"] for r in full["resources"]] == ["data"]
    assert full["outputs"]["db_password"]["value"] == SECRET
    assert (full["lineage"], full["serial"]) == (doc["lineage"], doc["serial"])
