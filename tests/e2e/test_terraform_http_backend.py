"""Real Terraform (1.0.3 and 1.15.5) against a real ``opentacosvc`` as its
``backend "http"``: every operation a Terraform user relies on."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.terraform import GREETING_CONFIG, Terraform, backend_block, write_config
from tests.servers import Server, start_server

pytestmark = pytest.mark.e2e

UNIT = "myapp/prod"
INIT = ("init", "-input=false", "-no-color")
APPLY = ("apply", "-input=false", "-auto-approve", "-no-color")


def backend_state(url: str, unit: str = UNIT) -> dict[str, Any]:
    """The unit's current state as the backend serves it to Terraform."""
    response = httpx.get(f"{url}/v1/backend/{unit}")
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


def versions(url: str, unit: str = UNIT) -> list[dict[str, Any]]:
    """The unit's history, oldest first."""
    response = httpx.get(f"{url}/v1/units/{unit}/versions")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == body["total"], body
    return sorted(body["versions"], key=lambda v: v["number"])


def unit_info(url: str, unit: str = UNIT) -> dict[str, Any]:
    response = httpx.get(f"{url}/v1/units/{unit}")
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


def greeting(state: dict[str, Any]) -> Any:
    return state["outputs"]["greeting"]["value"]


def test_apply_creates_the_unit_and_a_second_apply_bumps_the_serial(
    terraform: Terraform, server: Server, tmp_path: Path
) -> None:
    """init/apply auto-create the unit; a changed apply stores a version with a higher serial."""
    assert httpx.get(f"{server.url}/v1/units/{UNIT}").status_code == 404
    work = write_config(tmp_path / "cfg", backend_block(server.url, UNIT), GREETING_CONFIG)

    terraform.run(*INIT, cwd=work)
    terraform.run(*APPLY, cwd=work)
    first = backend_state(server.url)
    assert greeting(first) == "hello-1"
    assert first["terraform_version"] == terraform.version

    terraform.run(*APPLY, "-var", "n=2", cwd=work)
    second = backend_state(server.url)
    assert greeting(second) == "hello-2"
    assert second["lineage"] == first["lineage"]
    assert second["serial"] > first["serial"]

    history = versions(server.url)
    assert [v["serial"] for v in history] == [first["serial"], second["serial"]]
    assert not any(v["quarantined"] for v in history)
    info = unit_info(server.url)
    assert info["locked"] is False, info
    assert info["version"] == history[-1]["number"]


def test_foreign_lock_fails_apply_until_force_unlock(
    terraform: Terraform, server: Server, tmp_path: Path
) -> None:
    """A lock held by someone else fails apply naming its ID; force-unlock clears it."""
    work = write_config(tmp_path / "cfg", backend_block(server.url, UNIT), GREETING_CONFIG)
    terraform.run(*INIT, cwd=work)
    holder = {
        "ID": "e2e-foreign-lock-4711",
        "Operation": "OperationTypeApply",
        "Info": "held by the e2e test",
        "Who": "someone@elsewhere",
        "Version": "1.0.3",
        "Created": "2026-01-02T03:04:05.123456789Z",
        "Path": "",
    }
    locked = httpx.request("LOCK", f"{server.url}/v1/backend/{UNIT}", json=holder)
    assert locked.status_code == 200, locked.text

    refused = terraform.run(*APPLY, cwd=work, check=False)
    assert refused.returncode == 1, refused.describe()
    # "ID=<holder>" shows Terraform parsed the 423 body as the holder's LockInfo.
    assert f"already locked: ID={holder['ID']}" in refused.stderr, refused.describe()
    if terraform.version != "1.0.3":  # only newer versions print the whole Lock Info block
        assert holder["Who"] in refused.stderr, refused.describe()
    assert httpx.get(f"{server.url}/v1/backend/{UNIT}").status_code == 404, "state was written"
    assert unit_info(server.url)["lock"]["id"] == holder["ID"]

    terraform.run("force-unlock", "-force", "-no-color", holder["ID"], cwd=work)
    assert unit_info(server.url)["locked"] is False

    terraform.run(*APPLY, cwd=work)
    assert greeting(backend_state(server.url)) == "hello-1"
    assert unit_info(server.url)["locked"] is False


def test_state_pull_returns_the_stored_state_and_push_stores_a_newer_one(
    terraform: Terraform, server: Server, tmp_path: Path
) -> None:
    """state pull prints what the service stores; state push of a newer serial is stored."""
    work = write_config(tmp_path / "cfg", backend_block(server.url, UNIT), GREETING_CONFIG)
    terraform.run(*INIT, cwd=work)
    terraform.run(*APPLY, cwd=work)

    pulled = json.loads(terraform.run("state", "pull", cwd=work).stdout)
    stored = backend_state(server.url)
    assert pulled == stored

    pushed = {**pulled, "serial": pulled["serial"] + 1}
    pushed["outputs"] = {"greeting": {"value": "pushed-by-test", "type": "string"}}
    (work / "pushed.tfstate").write_text(json.dumps(pushed, indent=2))
    terraform.run("state", "push", "-no-color", "pushed.tfstate", cwd=work)

    now = backend_state(server.url)
    assert greeting(now) == "pushed-by-test"
    assert now["lineage"] == pulled["lineage"]
    # Terraform's state manager may bump the serial again as it persists.
    assert now["serial"] >= pushed["serial"]
    assert [v["serial"] for v in versions(server.url)] == [pulled["serial"], now["serial"]]


def test_terraform_remote_state_reads_another_configurations_output(
    terraform: Terraform, server: Server, tmp_path: Path
) -> None:
    """A second configuration reads the first's output through data.terraform_remote_state."""
    producer = write_config(tmp_path / "producer", backend_block(server.url, UNIT), GREETING_CONFIG)
    terraform.run(*INIT, cwd=producer)
    terraform.run(*APPLY, "-var", "n=7", cwd=producer)

    consumer = write_config(
        tmp_path / "consumer",
        backend_block(server.url, "myapp/consumer"),
        f"""\
data "terraform_remote_state" "prod" {{
  backend = "http"
  config = {{
    address = "{server.url}/v1/backend/{UNIT}"
  }}
}}

output "upstream" {{
  value = data.terraform_remote_state.prod.outputs.greeting
}}
""",
    )
    terraform.run(*INIT, cwd=consumer)
    terraform.run(*APPLY, cwd=consumer)

    consumed = backend_state(server.url, "myapp/consumer")
    assert consumed["outputs"]["upstream"]["value"] == "hello-7"
    assert consumed["lineage"] != backend_state(server.url)["lineage"]


def test_state_survives_a_restart_of_the_service(terraform: Terraform, tmp_path: Path) -> None:
    """After stop and start on the same SQLite file and port, plan sees no changes."""
    svc = tmp_path / "svc"
    server = start_server(svc)
    try:
        work = write_config(tmp_path / "cfg", backend_block(server.url, UNIT), GREETING_CONFIG)
        terraform.run(*INIT, cwd=work)
        terraform.run(*APPLY, cwd=work)
        before = httpx.get(f"{server.url}/v1/backend/{UNIT}").content
    finally:
        server.stop()
    # uvicorn re-raises SIGTERM after its graceful shutdown; -9 would mean stop() had to kill.
    assert server.proc.returncode in (0, -signal.SIGTERM), server.logs()

    server = start_server(svc, port=server.port)
    try:
        plan = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", cwd=work)
        assert plan.returncode == 0, plan.describe()
        after = httpx.get(f"{server.url}/v1/backend/{UNIT}").content
        assert after == before
        pulled = terraform.run("state", "pull", cwd=work).stdout
        assert json.loads(pulled) == json.loads(before)
        assert unit_info(server.url)["locked"] is False
    finally:
        server.stop()


def test_apply_works_again_after_the_backend_delete_removed_the_state(
    terraform: Terraform, server: Server, tmp_path: Path
) -> None:
    """After DELETE on the backend address removes the state, apply there stores a new one."""
    work = write_config(tmp_path / "cfg", backend_block(server.url, UNIT), GREETING_CONFIG)
    terraform.run(*INIT, cwd=work)
    terraform.run(*APPLY, cwd=work)

    deleted = httpx.delete(f"{server.url}/v1/backend/{UNIT}")
    assert deleted.status_code == 200, deleted.text
    assert httpx.get(f"{server.url}/v1/backend/{UNIT}").status_code == 404

    terraform.run(*APPLY, "-var", "n=3", cwd=work)
    assert greeting(backend_state(server.url)) == "hello-3"
    assert unit_info(server.url)["locked"] is False
