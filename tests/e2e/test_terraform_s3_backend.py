"""Real Terraform's own ``backend "s3"`` against ``opentacosvc``'s S3 endpoint, with auth on.

The AWS profile and the backend blocks are read out of ``docs/s3-endpoint.md``
and used as written there (only the server URL and the path of ``taco`` are
filled in), so the documentation is what is tested. Credentials come from
``credential_process = taco creds --json``, with the login ``taco login
--token`` saved in a private HOME. One server serves the whole module.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.terraform import GREETING_CONFIG, Terraform, locate, write_config
from tests.servers import Server, start_server

pytestmark = pytest.mark.e2e

DOC = Path(__file__).parents[2] / "docs" / "s3-endpoint.md"
DOC_SERVER = "http://localhost:8080"
UNIT = "myapp/prod"
INIT = ("init", "-input=false", "-no-color")
APPLY = ("apply", "-input=false", "-auto-approve", "-no-color")
PLAN = ("plan", "-input=false", "-no-color", "-detailed-exitcode")


def doc_blocks(language: str) -> list[str]:
    """The fenced ``language`` blocks of the S3 endpoint's documentation, in order."""
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def taco_executable() -> str:
    found = shutil.which("taco", path=str(Path(sys.executable).parent))
    assert found is not None, "the taco console script is not installed beside this Python"
    return found


@attrs.frozen
class S3Service:
    """The server, its admin token, and a HOME logged in to it with ``taco``."""

    server: Server
    admin: str
    home: Path

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.admin}"}
        return httpx.request(method, self.server.url + path, headers=headers, **kwargs)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Service]:
    """``opentacosvc`` with auth on, and ``taco login --token`` done in a fresh HOME
    whose ``~/.aws/config`` is the documented profile."""
    base = tmp_path_factory.mktemp("s3-endpoint")
    server = start_server(base / "svc", auth_disable=False)
    try:
        admin = (base / "svc" / "data" / "admin-token").read_text().strip()
        home = base / "home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENTACO_")}
        env["HOME"] = str(home)
        subprocess.run(
            [taco_executable(), "login", "--token", "-", "--server", server.url],
            input=admin.encode(),
            env=env,
            check=True,
            capture_output=True,
        )
        (profile,) = doc_blocks("ini")
        profile = profile.replace(DOC_SERVER, server.url).replace(
            "credential_process = taco ", f"credential_process = {taco_executable()} "
        )
        (home / ".aws").mkdir()
        (home / ".aws" / "config").write_text(profile)
        yield S3Service(server, admin, home)
    finally:
        server.stop()


def aws_env(terraform: Terraform, home: Path) -> dict[str, str]:
    """Terraform's hermetic environment with the logged-in HOME and its AWS
    profile, and nothing of this machine's AWS or OpenTaco settings (its
    ``AWS_CA_BUNDLE``, say)."""
    env = {k: v for k, v in terraform.env.items() if not k.startswith(("AWS_", "OPENTACO_"))}
    env.update(
        {
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
            "AWS_SDK_LOAD_CONFIG": "1",
        }
    )
    return env


@pytest.fixture(scope="module")
def tf115(tmp_path_factory: pytest.TempPathFactory, service: S3Service) -> Terraform:
    tf = locate("1.15.5", tmp_path_factory.mktemp("terraform-1.15.5"))
    return attrs.evolve(tf, env=aws_env(tf, service.home))


@pytest.fixture(scope="module")
def tf103(tmp_path_factory: pytest.TempPathFactory, service: S3Service) -> Terraform:
    tf = locate("1.0.3", tmp_path_factory.mktemp("terraform-1.0.3"))
    return attrs.evolve(tf, env=aws_env(tf, service.home))


def backend_config(block: int, service: S3Service, key: str) -> str:
    """The documented backend block number ``block``, pointed at this server and ``key``."""
    text = doc_blocks("hcl")[block].replace(DOC_SERVER, service.server.url)
    return text.replace('"myapp/prod/terraform.tfstate"', f'"{key}"')


def modern(service: S3Service, key: str = f"{UNIT}/terraform.tfstate") -> str:
    return backend_config(0, service, key)


def legacy(service: S3Service, key: str) -> str:
    return backend_config(1, service, key)


def stored(service: S3Service, unit: str) -> bytes:
    """The unit's state as the HTTP backend serves it."""
    reply = service.api("GET", f"/v1/backend/{unit}")
    assert reply.status_code == 200, reply.text
    return reply.content


def history(service: S3Service, unit: str) -> list[dict[str, Any]]:
    reply = service.api("GET", f"/v1/units/{unit}/versions")
    assert reply.status_code == 200, reply.text
    return sorted(reply.json()["versions"], key=lambda v: v["number"])


def staging_calls(service: S3Service, operation: str) -> float:
    """How many times the service called its upload staging's ``operation``
    (its /metrics, which count every storage call)."""
    text = service.api("GET", "/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "opentaco_storage_operation_duration_seconds_count"
        and sample.labels["operation"] == operation
    )


def unit_of(service: S3Service, unit: str) -> Mapping[str, Any]:
    reply = service.api("GET", f"/v1/units/{unit}")
    assert reply.status_code == 200, reply.text
    doc: Mapping[str, Any] = reply.json()
    return doc


def test_documented_setup_inits_and_applies_into_the_unit(
    tf115: Terraform, service: S3Service, tmp_path: Path
) -> None:
    """The documented profile and block work verbatim: init, apply, a second apply; the
    state is unit myapp/prod, byte-identical through the HTTP backend, written by admin
    through the S3 endpoint, and unlocked afterwards."""
    work = write_config(tmp_path / "cfg", modern(service), GREETING_CONFIG)
    tf115.run(*INIT, cwd=work)
    tf115.run(*APPLY, cwd=work)
    tf115.run(*APPLY, "-var", "n=2", cwd=work)
    data = stored(service, UNIT)
    assert b'"hello-2"' in data
    versions = history(service, UNIT)
    assert len(versions) == 2
    assert versions[-1]["sha256"] == hashlib.sha256(data).hexdigest()
    assert {(v["surface"], v["author"]) for v in versions} == {("s3-endpoint", "admin")}
    pulled = tf115.run("state", "pull", cwd=work).stdout.encode()
    assert pulled.strip() == data.strip()
    assert unit_of(service, UNIT)["locked"] is False
    assert tf115.run(*PLAN, "-var", "n=2", cwd=work, check=False).returncode == 0


def test_lock_held_elsewhere_stops_a_second_working_directory(
    tf115: Terraform, service: S3Service, tmp_path: Path
) -> None:
    """A lock taken through the HTTP backend makes apply in another working directory fail
    with the holder shown; force-unlock from there releases it; then apply works."""
    unit = "locks/prod"
    work = write_config(
        tmp_path / "second", modern(service, f"{unit}/terraform.tfstate"), GREETING_CONFIG
    )
    tf115.run(*INIT, cwd=work)
    held = service.api("LOCK", f"/v1/backend/{unit}", json={"ID": "held-by-ci", "Who": "ci@runner"})
    assert held.status_code == 200, held.text
    refused = tf115.run(*APPLY, "-lock-timeout=0s", cwd=work, check=False)
    assert refused.returncode != 0
    assert "held-by-ci" in refused.output and "ci@runner" in refused.output
    assert "412" in refused.output or "PreconditionFailed" in refused.output
    tf115.run("force-unlock", "-force", "held-by-ci", cwd=work)
    assert unit_of(service, unit)["locked"] is False
    tf115.run(*APPLY, cwd=work)
    assert b'"hello-1"' in stored(service, unit)


def test_workspaces_are_units_under_env(
    tf115: Terraform, service: S3Service, tmp_path: Path
) -> None:
    """workspace new/list/select/delete work; workspace dev of myapp/ws is unit
    _env/dev/myapp/ws, apart from the default workspace's state, and deleting the
    workspace soft-deletes that unit."""
    work = write_config(
        tmp_path / "ws", modern(service, "myapp/ws/terraform.tfstate"), GREETING_CONFIG
    )
    tf115.run(*INIT, cwd=work)
    tf115.run(*APPLY, cwd=work)
    tf115.run("workspace", "new", "-no-color", "dev", cwd=work)
    tf115.run(*APPLY, "-var", "n=5", cwd=work)
    listed = tf115.run("workspace", "list", "-no-color", cwd=work).stdout
    assert {line.strip(" *") for line in listed.splitlines() if line.strip()} == {
        "default",
        "dev",
    }
    assert b'"hello-5"' in stored(service, "_env/dev/myapp/ws")
    assert b'"hello-1"' in stored(service, "myapp/ws")
    tf115.run("workspace", "select", "-no-color", "default", cwd=work)
    assert tf115.run(*PLAN, cwd=work, check=False).returncode == 0
    tf115.run("workspace", "delete", "-force", "-no-color", "dev", cwd=work)
    assert service.api("GET", "/v1/units/_env/dev/myapp/ws").status_code == 404
    listed = tf115.run("workspace", "list", "-no-color", cwd=work).stdout
    assert "dev" not in listed


def test_state_over_5_mib_goes_through_multipart_and_reads_back(
    tf115: Terraform, service: S3Service, tmp_path: Path
) -> None:
    """A state over 5 MiB (Terraform uploads it in parts and reads it in ranges) is stored
    whole, and the next plan finds no changes."""
    unit = "big/prod"
    work = write_config(
        tmp_path / "big",
        modern(service, f"{unit}/terraform.tfstate"),
        'output "big" {\n  value = file("${path.module}/big.txt")\n}\n',
    )
    (work / "big.txt").write_text("0123456789abcdef" * (6 * 1024 * 1024 // 16))
    tf115.run(*INIT, cwd=work)
    tf115.run(*APPLY, cwd=work, timeout=300)
    data = stored(service, unit)
    assert len(data) > 6 * 1024 * 1024
    # The access log keeps no query string (presigned URLs carry credentials
    # there): the staging store's calls show the multipart upload.
    assert staging_calls(service, "begin_upload") == 1
    assert staging_calls(service, "put_part") >= 2
    assert history(service, unit)[-1]["sha256"] == hashlib.sha256(data).hexdigest()
    assert tf115.run(*PLAN, cwd=work, check=False, timeout=300).returncode == 0


def test_terraform_1_0_3_documented_block_inits_and_applies(
    tf103: Terraform, service: S3Service, tmp_path: Path
) -> None:
    """Terraform 1.0.3's documented block (no lockfile) works: init, apply, a workspace;
    the state is the unit's, byte-identical through the HTTP backend."""
    unit = "legacy/prod"
    work = write_config(
        tmp_path / "legacy", legacy(service, f"{unit}/terraform.tfstate"), GREETING_CONFIG
    )
    tf103.run(*INIT, cwd=work)
    tf103.run(*APPLY, cwd=work)
    data = stored(service, unit)
    assert b'"hello-1"' in data
    assert history(service, unit)[-1]["sha256"] == hashlib.sha256(data).hexdigest()
    tf103.run("workspace", "new", "-no-color", "qa", cwd=work)
    tf103.run(*APPLY, "-var", "n=3", cwd=work)
    assert b'"hello-3"' in stored(service, "_env/qa/legacy/prod")
    listed = tf103.run("workspace", "list", "-no-color", cwd=work).stdout
    assert "qa" in listed


def test_a_dev_writers_terraform_cannot_touch_prod(
    tf115: Terraform, service: S3Service, tmp_path: Path
) -> None:
    """With RBAC on, Terraform whose credential_process runs as a dev/* writer's token
    (OPENTACO_TOKEN, as in CI) applies dev/app, and stops at init on prod/app with a 403
    naming the object; prod/app is unchanged."""
    rules = [{"effect": "allow", "actions": ["*"], "resources": ["dev/*"]}]
    for path, body in (
        ("/v1/rbac/permissions", {"id": "tf-dev", "rules": rules}),
        ("/v1/rbac/roles", {"id": "tf-dev", "permissions": ["tf-dev"]}),
        ("/v1/rbac/users/assign", {"subject": "tf-ci", "role_id": "tf-dev"}),
    ):
        assert service.api("POST", path, json=body).status_code in (200, 201)
    made = service.api("POST", "/v1/auth/tokens", json={"name": "tf-ci", "subject": "tf-ci"})
    assert made.status_code == 201, made.text
    ci = attrs.evolve(tf115, env={**tf115.env, "OPENTACO_TOKEN": made.json()["token"]})
    dev = write_config(
        tmp_path / "dev", modern(service, "dev/app/terraform.tfstate"), GREETING_CONFIG
    )
    ci.run(*INIT, cwd=dev)
    ci.run(*APPLY, cwd=dev)
    assert {v["author"] for v in history(service, "dev/app")} == {"tf-ci"}
    seeded = service.api("POST", "/v1/backend/prod/app", content=stored(service, "dev/app"))
    assert seeded.status_code == 200, seeded.text
    before = history(service, "prod/app")
    prod = write_config(
        tmp_path / "prod", modern(service, "prod/app/terraform.tfstate"), GREETING_CONFIG
    )
    refused = ci.run(*INIT, cwd=prod, check=False)
    assert refused.returncode != 0
    # Terraform's first read is a HeadObject, whose answer has no body: it shows the 403.
    assert "StatusCode: 403" in refused.output
    assert '"prod/app/terraform.tfstate"' in refused.output
    assert history(service, "prod/app") == before
    assert unit_of(service, "prod/app")["locked"] is False
