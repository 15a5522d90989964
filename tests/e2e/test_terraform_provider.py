"""The ``opentaco`` provider driven by real Terraform (1.0.3 and 1.15.5) against a real
``opentacosvc`` with authentication on, installed by ``taco provider install`` into a
private HOME, with tokens only in the environment.

``docs/provider.md``'s walkthrough runs as written; the other tests cover what a
walkthrough should not show: a lock held by someone else, a revoked token, a token
whose roles refuse a write (and allow only outputs), a unit deleted behind
Terraform's back, and labels changed in place.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from taco_core.digest import edge_id
from tests.e2e.terraform import Result, Terraform, strip_debug, terraform_env
from tests.servers import Server, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DOC = Path(__file__).resolve().parents[2] / "docs" / "provider.md"
INIT = ("init", "-input=false", "-no-color")
APPLY = ("apply", "-input=false", "-auto-approve", "-no-color")
PLAN = ("plan", "-input=false", "-no-color", "-detailed-exitcode")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

UNITS_TF = """\
resource "opentaco_unit" "net" {
  id     = "e2e/net"
  labels = { team = "platform" }
}

resource "opentaco_unit" "app" {
  id = "e2e/app"
}

resource "opentaco_dependency" "net_to_app" {
  from_unit_id = opentaco_unit.net.id
  from_output  = "vpc_id"
  to_unit_id   = opentaco_unit.app.id
}

data "opentaco_unit" "net" {
  id         = opentaco_unit.net.id
  depends_on = [opentaco_unit.net]
}

output "net_labels" {
  value = data.opentaco_unit.net.labels
}
"""


def walkthrough() -> str:
    """The walkthrough's shell blocks, in order, as one script."""
    section = DOC.read_text().split("## Walkthrough", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 10, "the walkthrough's steps changed: update this test's checks"
    return "".join(blocks)


def terraform_command(terraform: Terraform, bin_dir: Path) -> Path:
    """``bin_dir/terraform`` running the Terraform under test, for scripts."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "terraform"
    script.write_text(f'#!/bin/sh\nexec {shlex.join(terraform.command)} "$@"\n')
    script.chmod(0o755)
    return script


def user_env(terraform: Terraform, tmp_path: Path, server: Server, token: str) -> dict[str, str]:
    """A user's environment: private HOME, Terraform and taco on PATH, the server and
    the token (for the provider and, as its password, the backend) exported."""
    env = terraform_env(tmp_path / "home")
    env = {k: v for k, v in env.items() if not k.startswith("OPENTACO_")}
    env.pop("XDG_CONFIG_HOME", None)
    bin_dir = tmp_path / "bin"
    terraform_command(terraform, bin_dir)
    env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), "/usr/bin:/bin"])
    env.update(OPENTACO_SERVER=server.url, OPENTACO_TOKEN=token, TF_HTTP_PASSWORD=token)
    return env


def api(server: Server, token: str, path: str) -> Any:
    reply = httpx.get(f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200, reply.text
    return reply.json()


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    """A fresh service with authentication on, and its bootstrap admin token."""
    workdir = tmp_path / "svc"
    with running_server(workdir, auth_disable=False) as server:
        yield server, (workdir / "data" / "admin-token").read_text().strip()


def test_the_documented_walkthrough_runs_as_written(
    terraform: Terraform, secured: tuple[Server, str], tmp_path: Path
) -> None:
    """install, init, apply (units with labels, an edge, a data source), a clean re-plan,
    a label changed in place, outputs of another unit, import, state show, destroy: each
    step as documented."""
    server, admin = secured
    env = user_env(terraform, tmp_path, server, "")
    for name in ("OPENTACO_TOKEN", "TF_HTTP_PASSWORD"):
        del env[name]  # step 1 exports them
    proc = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + walkthrough()],
        cwd=tmp_path / "svc",
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
        check=False,
    )
    out = _ANSI.sub("", strip_debug(proc.stdout))
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    expected = [
        "Installed the OpenTaco provider",
        "Wrote platform/main.tf",
        "Apply complete! Resources: 4 added",
        "Labels:   team=payments, tier=1",
        "No changes.",
        "opentaco_unit.app will be updated in-place",
        "Apply complete! Resources: 0 added, 1 changed, 0 destroyed.",
        "Labels:   team=payments, tier=2",
        '"vpc-0a1b2c"',
        "Import successful!",
        "No changes.",
        "Destroy complete! Resources: 5 destroyed.",
        "No units found",
    ]
    position = 0
    for text in expected:
        found = out.find(text, position)
        assert found >= 0, f"{text!r} missing (in order) from:\n{out}"
        position = found + len(text)
    assert re.search(
        r'myapp_units = (?:tolist\()?\[\s*"myapp/app",\s*"myapp/network",\s*"myapp/prod",', out
    )
    assert re.search(r'to_input\s+= "vpc_id"', out)
    assert re.search(r'status\s+= "unknown"', out)
    assert admin not in (tmp_path / "svc" / "platform" / "main.tf").read_text()
    left = [u["id"] for u in api(server, admin, "/v1/units")["units"]]
    assert left == ["__opentaco_system"]


@attrs.frozen
class Platform:
    """A configuration set up as a user would, applied once: units e2e/net and e2e/app,
    an edge between them, and a data source reading e2e/net."""

    terraform: Terraform
    server: Server
    token: str
    work: Path

    def tf(self, *args: str, env: Mapping[str, str] | None = None, check: bool = True) -> Result:
        runner = attrs.evolve(self.terraform, env={**self.terraform.env, **(env or {})})
        return runner.run(*args, cwd=self.work, check=check)

    def taco(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "taco_cli", *args],
            cwd=self.work.parent,
            env={**self.terraform.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc

    def unit(self, unit_id: str) -> httpx.Response:
        return httpx.get(
            f"{self.server.url}/v1/units/{unit_id}",
            headers={"Authorization": f"Bearer {self.token}"},
        )


@pytest.fixture
def platform(terraform: Terraform, secured: tuple[Server, str], tmp_path: Path) -> Platform:
    server, token = secured
    env = user_env(terraform, tmp_path, server, token)
    user = Platform(attrs.evolve(terraform, env=env), server, token, tmp_path / "platform")
    user.taco("provider", "init", str(user.work))
    (user.work / "units.tf").write_text(UNITS_TF)
    user.tf(*INIT)
    user.tf(*APPLY)
    return user


def test_apply_stores_labels_and_the_edge_then_plans_nothing(platform: Platform) -> None:
    """Units carry their labels on the server, the edge sits in the system unit's state
    with the derived ID, the data source read the labels, and a re-plan exits 0."""
    assert platform.unit("e2e/net").json()["labels"] == {"team": "platform"}
    assert platform.unit("e2e/app").json()["labels"] == {}
    state = api(platform.server, platform.token, "/v1/units/__opentaco_system/download")
    [edge] = [r for r in state["resources"] if r["type"] == "opentaco_dependency"]
    attributes = edge["instances"][0]["attributes"]
    assert attributes == {
        "id": edge_id("e2e/net", "vpc_id", "e2e/app", "vpc_id"),
        "from_unit_id": "e2e/net",
        "from_output": "vpc_id",
        "to_unit_id": "e2e/app",
        "to_input": "vpc_id",
        "in_digest": "",
        "out_digest": "",
        "status": "unknown",
        "last_in_at": None,
        "last_out_at": None,
    }
    assert json.loads(platform.tf("output", "-json", "net_labels").stdout) == {"team": "platform"}
    replan = platform.tf(*PLAN, check=False)
    assert replan.returncode == 0, replan.describe()


def test_a_locked_unit_is_not_destroyed_and_the_error_names_the_holder(
    platform: Platform,
) -> None:
    """423: destroy fails with the holder's name and lock ID, keeps the unit, and
    succeeds once the lock is released."""
    locked = platform.taco("unit", "lock", "e2e/app").stdout
    lock_id = re.search(r"lock ID: ([0-9a-f-]+)", locked)
    assert lock_id is not None, locked
    failed = platform.tf("destroy", "-auto-approve", "-no-color", check=False)
    assert failed.returncode == 1, failed.describe()
    assert 'Error: Unit "e2e/app" is locked by ' in failed.stderr
    assert f"ID:        {lock_id.group(1)}" in failed.stderr
    assert "taco unit unlock e2e/app --force" in failed.stderr
    assert "Traceback" not in failed.output
    assert platform.unit("e2e/app").status_code == 200
    platform.taco("unit", "unlock", "e2e/app")
    platform.tf("destroy", "-auto-approve", "-no-color")
    assert platform.unit("e2e/app").status_code == 404


def test_a_revoked_token_fails_the_plan_with_a_diagnostic(platform: Platform) -> None:
    """401: a revoked OPENTACO_TOKEN stops the plan with an error that names the
    variable; the backend's own password is still fine."""
    created = platform.taco("--json", "token", "create", "--name", "provider").stdout
    doc = json.loads(created)
    revoked = platform.taco("token", "revoke", doc["id"])
    assert revoked.returncode == 0
    failed = platform.tf(*PLAN, env={"OPENTACO_TOKEN": doc["token"]}, check=False)
    assert failed.returncode == 1, failed.describe()
    assert 'Error: Not authenticated: cannot read unit "e2e/' in failed.stderr
    assert "refused the token from OPENTACO_TOKEN" in failed.stderr
    assert "Traceback" not in failed.output


def provider_only(server: Server) -> str:
    """A configuration's provider setup, with local state (no backend)."""
    return f"""\
terraform {{
  required_providers {{
    opentaco = {{
      source = "opentaco.local/opentaco/opentaco"
    }}
  }}
}}

provider "opentaco" {{
  endpoint = "{server.url}"
}}

"""


READER_TF = """\
data "opentaco_outputs" "net" {
  unit_id = "e2e/net"
}

output "vpc_id" {
  value = data.opentaco_outputs.net.nonsensitive_values.vpc_id
}

output "output_names" {
  value = keys(nonsensitive(data.opentaco_outputs.net.values))
}

resource "opentaco_unit" "mine" {
  id = "e2e/readers-own"
}
"""

NET_STATE = {
    "version": 4,
    "terraform_version": "1.15.5",
    "serial": 1,
    "lineage": "e2e-net",
    "outputs": {
        "vpc_id": {"value": "vpc-0a1b2c", "type": "string"},
        "db_password": {"value": "s3cret", "type": "string", "sensitive": True},
    },
    "resources": [],
}


def test_an_outputs_only_token_reads_outputs_and_a_refused_write_names_the_permission(
    platform: Platform,
) -> None:
    """A token whose only role allows unit.read_outputs on e2e/*: opentaco_outputs
    reads the unit's non-sensitive outputs (the sensitive one is withheld), and
    creating a unit fails with a 403 diagnostic naming unit.write and the unit."""
    state_file = platform.work.parent / "net.tfstate"
    state_file.write_text(json.dumps(NET_STATE))
    platform.taco("unit", "push", "e2e/net", str(state_file))
    for argv in (
        ("rbac", "permission", "create", "e2e-outputs", "--rule", "allow:unit.read_outputs:e2e/*"),
        ("rbac", "role", "create", "e2e-outputs"),
        ("rbac", "role", "assign-permission", "e2e-outputs", "e2e-outputs"),
        ("rbac", "user", "assign", "e2e-reader", "e2e-outputs"),
    ):
        platform.taco(*argv)
    created = platform.taco(
        "--json", "token", "create", "--name", "reader", "--subject", "e2e-reader"
    )
    reader_token = json.loads(created.stdout)["token"]
    reader = attrs.evolve(platform, token=reader_token, work=platform.work.parent / "reader")
    reader.work.mkdir()
    (reader.work / "main.tf").write_text(provider_only(platform.server) + READER_TF)
    as_reader = {"OPENTACO_TOKEN": reader_token}
    reader.tf(*INIT, env=as_reader)
    failed = reader.tf(*APPLY, env=as_reader, check=False)
    assert failed.returncode == 1, failed.describe()
    shown = " ".join(failed.stderr.split())  # Terraform wraps long diagnostic lines
    assert (
        'Error: Permission denied: cannot create unit "e2e/readers-own" '
        '(needs unit.write on "e2e/readers-own")'
    ) in shown, failed.describe()
    assert "permission denied: unit.write on unit 'e2e/readers-own' is not allowed" in shown
    assert "Traceback" not in failed.output
    assert platform.unit("e2e/readers-own").status_code == 404
    (reader.work / "main.tf").write_text(
        (reader.work / "main.tf").read_text().split('resource "opentaco_unit" "mine"')[0]
    )
    reader.tf(*APPLY, env=as_reader)
    outputs = json.loads(reader.tf("output", "-json", env=as_reader).stdout)
    assert outputs["vpc_id"]["value"] == "vpc-0a1b2c"
    assert outputs["output_names"]["value"] == ["vpc_id"]


STATUS_TF = """\
data "opentaco_unit_status" "app" {
  unit_id = opentaco_unit.app.id
}

output "app_status" {
  value = [
    data.opentaco_unit_status.app.status,
    data.opentaco_unit_status.app.offender,
    data.opentaco_unit_status.app.incoming_pending,
  ]
}

output "app_incoming" {
  value = [for e in data.opentaco_unit_status.app.incoming : [e.from_unit_id, e.status]]
}
"""


def push(platform: Platform, unit: str, serial: int, **outputs: str) -> None:
    """Write the unit's state number ``serial`` with these outputs, as its own
    configuration would."""
    doc = {
        "version": 4,
        "terraform_version": "1.15.5",
        "serial": serial,
        "lineage": f"lineage-{unit.replace('/', '-')}",
        "outputs": {k: {"value": v, "type": "string"} for k, v in outputs.items()},
        "resources": [],
    }
    state_file = platform.work.parent / f"{unit.replace('/', '-')}-{serial}.tfstate"
    state_file.write_text(json.dumps(doc))
    platform.taco("unit", "push", unit, str(state_file))


def test_unit_status_turns_red_when_a_consumed_output_changes(platform: Platform) -> None:
    """e2e/app consumes e2e/net's vpc_id: green once both are applied in order, red
    (offender e2e/net, one pending edge) after net's output changes; a re-plan of
    the configuration itself stays clean."""
    push(platform, "e2e/net", 1, vpc_id="vpc-1")
    push(platform, "e2e/app", 1)
    (platform.work / "status.tf").write_text(STATUS_TF)
    platform.tf(*APPLY)

    def status() -> Any:
        return json.loads(platform.tf("output", "-json").stdout)

    assert status()["app_status"]["value"] == ["green", None, 0]
    assert status()["app_incoming"]["value"] == [["e2e/net", "ok"]]
    push(platform, "e2e/net", 2, vpc_id="vpc-2")
    platform.tf(*APPLY)
    assert status()["app_status"]["value"] == ["red", "e2e/net", 1]
    assert status()["app_incoming"]["value"] == [["e2e/net", "pending"]]


def test_a_unit_deleted_behind_terraforms_back_is_planned_again(platform: Platform) -> None:
    """A unit deleted out of band leaves the state on refresh; the plan re-creates it."""
    platform.taco("unit", "rm", "e2e/app")
    plan = platform.tf(*PLAN, check=False)
    assert plan.returncode == 2, plan.describe()
    assert "opentaco_unit.app will be created" in plan.stdout
    platform.tf(*APPLY)
    assert platform.unit("e2e/app").status_code == 200


def test_labels_change_in_place(platform: Platform) -> None:
    """Changed labels are an in-place update, sent to the server; the data source
    reads the new ones, and the next plan is clean."""
    (platform.work / "units.tf").write_text(
        UNITS_TF.replace(
            'labels = { team = "platform" }', 'labels = { team = "network", tier = "0" }'
        )
    )
    plan = platform.tf(*PLAN, check=False)
    assert "1 to change, 0 to destroy" in plan.stdout, plan.describe()
    assert "opentaco_unit.net will be updated in-place" in plan.stdout, plan.describe()
    platform.tf(*APPLY)
    assert platform.unit("e2e/net").json()["labels"] == {"team": "network", "tier": "0"}
    assert json.loads(platform.tf("output", "-json", "net_labels").stdout) == {
        "team": "network",
        "tier": "0",
    }
    replan = platform.tf(*PLAN, check=False)
    assert replan.returncode == 0, replan.describe()
