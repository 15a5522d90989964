"""``docs/tfe.md`` works as written: its Terraform blocks (the credentials
block, ``backend "remote"`` for 1.0.3, ``cloud {}`` for 1.15.5, the tags
variant and ``terraform_remote_state``) against a fresh TLS install, and the
internal API's sync-then-curl walkthrough (the Statesman guide's commands)
run by bash and curl against a fresh plain-HTTP install.

Only the host (the docs' ``localhost:8443`` / ``localhost:8080``) and the
token placeholder are replaced; nothing else is edited.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import Taco
from tests.e2e.tfe import Host, terraform_for, unanswered, write
from tests.servers import Server, running_server
from tests.tls import issue

pytestmark = pytest.mark.e2e

DOC = Path(__file__).resolve().parents[2] / "docs" / "tfe.md"
DOC_HOST = "localhost:8443"
SECRET = "statesman-secret"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    """The doc's fenced code blocks in ``language``, in order."""
    return [body for lang, body in _FENCE.findall(DOC.read_text()) if lang == language]


def one(language: str, *needles: str) -> str:
    found = [b for b in blocks(language) if all(n in b for n in needles)]
    assert len(found) == 1, f"expected one {language} block with {needles}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    base = tmp_path_factory.mktemp("docs-tls")
    tls = issue(base / "tls")
    db = base / "data" / "taco.db"
    with running_server(
        base, args=[*tls.args(), "--sqlite-db-path", str(db)], auth_disable=False, ca=tls.ca
    ) as server:
        yield Host(server, tls, (db.parent / "admin-token").read_text().strip())
    assert unanswered(server) == []


OUTPUT = 'output "where" {\n  value = terraform.workspace\n}\n'


def test_the_terraform_blocks_work_verbatim(host: Host, tmp_path: Path) -> None:
    """The credentials block, then ``backend "remote"`` (1.0.3) and ``cloud {}``
    (1.15.5) on workspace ``prod``, the tags variant, and
    ``terraform_remote_state`` reading ``prod``, exactly as documented."""
    credentials = one("hcl", "credentials").replace(DOC_HOST, host.name)
    config = tmp_path / "cli.tfrc"
    config.write_text(credentials.replace("otc_...", host.token))
    old = terraform_for("1.0.3", tmp_path / "tf-old", host.tls, config)
    new = terraform_for("1.15.5", tmp_path / "tf-new", host.tls, config)

    remote = one("hcl", 'backend "remote"').replace(DOC_HOST, host.name)
    d = write(tmp_path / "remote", remote + "\n" + OUTPUT)
    old.ok("init", "-input=false", cwd=d)
    old.ok("apply", "-auto-approve", "-input=false", cwd=d)

    cloud = one("hcl", "cloud {", 'name = "prod"').replace(DOC_HOST, host.name)
    d = write(tmp_path / "cloud", cloud + "\n" + OUTPUT)
    new.ok("init", "-input=false", cwd=d)
    new.ok("apply", "-auto-approve", "-input=false", cwd=d)
    # cloud {} names terraform.workspace after the remote workspace
    assert host.backend_state("acme/prod")["outputs"]["where"]["value"] == "prod"

    tags = one("hcl", "cloud {", "tags =").replace(DOC_HOST, host.name)
    d = write(tmp_path / "tags", tags + "\n" + OUTPUT)
    new.ok("init", cwd=d, stdin="docs-tagged\n")
    new.ok("apply", "-auto-approve", "-input=false", cwd=d)
    assert host.workspace("docs-tagged")["attributes"]["tag-names"] == ["app", "team-x"]

    reader = one("hcl", "terraform_remote_state").replace(DOC_HOST, host.name)
    shown = 'output "seen" {\n  value = data.terraform_remote_state.network.outputs.where\n}\n'
    for tf in (old, new):
        d = write(tmp_path / f"reader-{tf.version}", reader + "\n" + shown)
        tf.ok("init", "-input=false", cwd=d)
        tf.ok("apply", "-auto-approve", "-input=false", cwd=d)
        assert tf.output("seen", d) == "prod"


def test_the_rbac_commands_give_a_pipeline_its_organization(host: Host, tmp_path: Path) -> None:
    """The "Who may do what" commands, run as the admin: the token they make
    applies a workspace of ``acme`` with ``cloud {}``, and the same
    configuration pointed at another organization is refused, printing RBAC's
    reason."""
    taco = Taco(tmp_path, host.server.url, config=tmp_path / "config")
    env = {"OPENTACO_TOKEN": host.token, "SSL_CERT_FILE": str(host.tls.ca)}
    token = ""
    for line in one("sh", "taco rbac permission create acme-write").splitlines():
        argv = shlex.split(line, comments=True)
        assert argv[0] == "taco", argv
        if argv[1:3] == ["token", "create"]:
            token = taco.ok(*argv[1:], "--json", env=env).json()["token"]
        else:
            taco.ok(*argv[1:], env=env)
    config = tmp_path / "ci.tfrc"
    config.write_text(
        one("hcl", "credentials").replace(DOC_HOST, host.name).replace("otc_...", token)
    )
    ci = terraform_for("1.15.5", tmp_path / "tf", host.tls, config)
    cloud = one("hcl", "cloud {", 'name = "prod"').replace(DOC_HOST, host.name)
    d = write(tmp_path / "acme", cloud.replace('"prod"', '"ci-app"') + "\n" + OUTPUT)
    ci.ok("init", "-input=false", cwd=d)
    ci.ok("apply", "-auto-approve", "-input=false", cwd=d)
    assert host.versions("acme/ci-app")[0]["author"] == "acme-ci"
    other = write(tmp_path / "globex", cloud.replace('"acme"', '"globex"') + "\n" + OUTPUT)
    refused = ci.fails("init", "-input=false", cwd=other)
    assert "permission denied" in refused.output and "globex/prod" in refused.output


@pytest.fixture(scope="module")
def internal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A fresh plain-HTTP install with the internal API enabled, as the guide starts it."""
    with running_server(
        tmp_path_factory.mktemp("docs-internal"),
        env={"OPENTACO_ENABLE_INTERNAL_ENDPOINTS": SECRET},
        auth_disable=False,
    ) as server:
        yield server


def walkthrough(server: Server) -> str:
    script = one("sh", "orgs/sync").replace("http://localhost:8080", server.url)
    bash, curl = shutil.which("bash"), shutil.which("curl")
    assert bash and curl, "the walkthrough needs bash and curl"
    done = subprocess.run(
        [bash, "-euo", "pipefail", "-c", script],
        env={"PATH": "/usr/bin:/bin", "OPENTACO_ENABLE_INTERNAL_ENDPOINTS": SECRET},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_internal_api_walkthrough_works_verbatim(internal: Server) -> None:
    """The guide's sync-then-curl commands create the organization and its
    user; run again, the sync reports the organization as existing."""
    first = walkthrough(internal)
    assert '"status":"created"' in first and '"name":"digger-org"' in first
    assert '"subject":"user_xxx"' in first
    assert '"units":[]' in first
    again = walkthrough(internal)
    assert '"status":"existing"' in again

    headers = {
        "Authorization": f"Bearer {SECRET}",
        "X-User-ID": "user_xxx",
        "X-Org-ID": "org_xxx",
    }
    orgs = httpx.get(f"{internal.url}/internal/api/orgs", headers=headers).json()
    assert [
        (o["name"], o["display_name"], o["external_org_id"]) for o in orgs["organizations"]
    ] == [("digger-org", "Digger Org", "org_xxx")]
    users = httpx.get(f"{internal.url}/internal/api/users", headers=headers).json()
    assert [(u["subject"], u["email"]) for u in users["users"]] == [("user_xxx", "you@example.com")]
    created = httpx.post(
        f"{internal.url}/internal/api/units", headers=headers, json={"id": "digger-org/prod"}
    )
    assert created.status_code == 201, created.text
    listed = httpx.get(f"{internal.url}/internal/api/units", headers=headers).json()
    assert [u["id"] for u in listed["units"]] == ["digger-org/prod"]
    assert json.loads(httpx.get(f"{internal.url}/internal/api/health", headers=headers).text) == {
        "status": "ok",
        "type": "internal",
        "auth_type": "webhook",
    }
