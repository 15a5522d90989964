"""History with real Terraform: restore through the CLI, and a foreign state kept safe.

Issue 4's end-to-end promise: apply three times, restore version 1 with
``taco unit restore``, ``terraform plan`` sees the restored outputs and the next
``apply`` is accepted (the restored serial is newer than anything Terraform
holds); a state of another configuration pushed by mistake is refused and kept
in quarantine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.terraform import GREETING_CONFIG, Terraform, backend_block, write_config
from tests.servers import Server

pytestmark = pytest.mark.e2e

UNIT = "hist/prod"
INIT = ("init", "-input=false", "-no-color")
APPLY = ("apply", "-input=false", "-auto-approve", "-no-color")


def taco(server: Server, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taco_cli.main", "--server", server.url, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def current(server: Server) -> dict[str, Any]:
    doc: dict[str, Any] = httpx.get(f"{server.url}/v1/backend/{UNIT}").json()
    return doc


def test_restore_via_cli_is_seen_by_plan_and_next_apply_succeeds(
    terraform: Terraform, server: Server, tmp_path: Path
) -> None:
    """Three applies, `taco unit restore` to version 1: plan sees hello-1, apply is accepted."""
    work = write_config(tmp_path / "cfg", backend_block(server.url, UNIT), GREETING_CONFIG)
    terraform.run(*INIT, cwd=work)
    for n in (1, 2, 3):
        terraform.run(*APPLY, "-var", f"n={n}", cwd=work)
    assert current(server)["outputs"]["greeting"]["value"] == "hello-3"
    before = current(server)

    restored = taco(server, "unit", "restore", UNIT, "1", cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    state = current(server)
    assert state["outputs"]["greeting"]["value"] == "hello-1"
    assert state["lineage"] == before["lineage"]
    assert state["serial"] > before["serial"]

    # Terraform sees the restored output: with n=3 the plan wants to change it back.
    plan = terraform.run("plan", "-input=false", "-no-color", "-var", "n=3", cwd=work)
    assert "hello-1" in plan.output
    assert "hello-3" in plan.output
    terraform.run(*APPLY, "-var", "n=4", cwd=work)
    after = current(server)
    assert after["outputs"]["greeting"]["value"] == "hello-4"
    assert after["serial"] > state["serial"]


def test_foreign_state_is_refused_and_quarantined(
    terraform: Terraform, server: Server, tmp_path: Path
) -> None:
    """A push of another configuration's state (other lineage) fails and is kept aside."""
    work = write_config(tmp_path / "a", backend_block(server.url, UNIT), GREETING_CONFIG)
    terraform.run(*INIT, cwd=work)
    terraform.run(*APPLY, cwd=work)
    good = httpx.get(f"{server.url}/v1/backend/{UNIT}").content

    other = write_config(tmp_path / "b", GREETING_CONFIG)  # local state: its own lineage
    terraform.run(*INIT, cwd=other)
    terraform.run(*APPLY, "-var", "n=9", cwd=other)
    foreign = (other / "terraform.tfstate").read_text()

    (work / "foreign.tfstate").write_text(foreign)
    pushed = terraform.run("state", "push", "-force", "-no-color", "foreign.tfstate",
                           cwd=work, check=False)  # fmt: skip
    assert pushed.returncode != 0
    assert httpx.get(f"{server.url}/v1/backend/{UNIT}").content == good

    versions = httpx.get(f"{server.url}/v1/units/{UNIT}/versions").json()["versions"]
    quarantined = [v for v in versions if v["quarantined"]]
    assert len(quarantined) == 1
    assert quarantined[0]["lineage"] == json.loads(foreign)["lineage"]
    assert "lineage" in quarantined[0]["note"]
    kept = httpx.get(f"{server.url}/v1/units/{UNIT}/versions/{quarantined[0]['number']}")
    assert json.loads(kept.content)["outputs"]["greeting"]["value"] == "hello-9"
    # The lock Terraform took for the push was released even though the write failed.
    assert httpx.get(f"{server.url}/v1/units/{UNIT}").json()["locked"] is False
