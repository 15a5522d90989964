"""Dependencies between units with real Terraform (1.0.3 and 1.15.5), authentication
on: ``docs/dependencies.md``'s walkthrough runs as written.

demo/network -> demo/app -> demo/frontend, each its own configuration on the http
backend, reading the one before it with ``terraform_remote_state``; the edges are
written to ``__opentaco_system`` by ``terraform state push``. Changing the network makes
app red and frontend yellow; re-applying app makes it green and frontend red;
re-applying frontend makes all green; a change made while the graph unit is locked shows
at once and is committed when the lock is released. A webhook receiver on a loopback port
gets every status change, signed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.from_thread
import httpx
import pytest
from anyio.from_thread import BlockingPortal

from taco_adapters.webhooks import SIGNATURE_HEADER, signature
from taco_core.graph import GRAPH_UNIT, read_graph
from tests.e2e.terraform import Terraform, strip_debug, terraform_env
from tests.http.webhook_receiver import Receiver
from tests.servers import Server, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DOC = Path(__file__).resolve().parents[2] / "docs" / "dependencies.md"
SECRET = "e2e-webhook-secret"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def walkthrough() -> str:
    section = DOC.read_text().split("## Walkthrough", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 8, "the walkthrough's steps changed: update this test's checks"
    return "".join(blocks)


class Platform:
    """A service with auth on and webhooks to a loopback receiver, in the
    directory the walkthrough runs in."""

    def __init__(
        self, server: Server, workdir: Path, receiver: Receiver, portal: BlockingPortal
    ) -> None:
        self.server = server
        self.workdir = workdir
        self.receiver = receiver
        self.portal = portal  # the event loop the receiver runs in
        self.token = (workdir / "data" / "admin-token").read_text().strip()

    def get(self, path: str) -> httpx.Response:
        return httpx.get(
            f"{self.server.url}{path}", headers={"Authorization": f"Bearer {self.token}"}
        )


@pytest.fixture(scope="module")
def platform(terraform: Terraform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One server per Terraform version, for this module."""
    workdir = tmp_path_factory.mktemp(f"deps-{terraform.version}")
    with anyio.from_thread.start_blocking_portal() as portal:
        receiver = portal.call(Receiver().__aenter__)
        try:
            env = {"OPENTACO_WEBHOOK_URLS": receiver.url, "OPENTACO_WEBHOOK_SECRET": SECRET}
            with running_server(workdir, auth_disable=False, env=env) as server:
                yield Platform(server, workdir, receiver, portal)
        finally:
            portal.call(receiver.__aexit__, None, None, None)


def user_env(terraform: Terraform, home: Path, server: Server) -> dict[str, str]:
    """A user's shell: private HOME, this Terraform and taco on PATH, the server exported."""
    env = {k: v for k, v in terraform_env(home).items() if not k.startswith("OPENTACO_")}
    env.pop("XDG_CONFIG_HOME", None)
    bin_dir = home / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "terraform"
    script.write_text(f'#!/bin/sh\nexec {shlex.join(terraform.command)} "$@"\n')
    script.chmod(0o755)
    env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), "/usr/bin:/bin"])
    env["OPENTACO_SERVER"] = server.url
    return env


def in_order(text: str, patterns: list[str]) -> None:
    position = 0
    for pattern in patterns:
        found = re.compile(pattern).search(text, position)
        assert found is not None, f"{pattern!r} missing (in order) from:\n{text}"
        position = found.end()


def test_the_documented_walkthrough_runs_as_written(
    terraform: Terraform, platform: Platform, tmp_path: Path
) -> None:
    """Every step as documented, both Terraform versions: the statuses change as
    the rules say, the lock is honoured and caught up with, webhooks arrive signed."""
    proc = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + walkthrough()],
        cwd=platform.workdir,
        env=user_env(terraform, tmp_path / "home", platform.server),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )
    out = _ANSI.sub("", strip_debug(proc.stdout))
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    in_order(
        out,
        [
            # 2: three applies, app reading network and frontend reading app
            r'vpc_cidr = "10\.0\.0\.0/16"',
            r'subnet = "10\.0\.1\.0/24"',
            r'allowed_cidr = "10\.0\.1\.0/24"',
            # 4: the fresh edges are filled in: everything up to date
            r"demo/app +up to date +0 +-",
            r"demo/frontend +up to date +0 +-",
            r"Total: 3 units: 3 up to date",
            r"demo/app +subnet +demo/frontend +subnet +ok",
            r"demo/network +vpc_cidr +demo/app +vpc_cidr +ok",
            # 5: network changed
            r"demo/app +needs re-apply +1 +demo/network:vpc_cidr",
            r"demo/frontend +might need re-apply +0 +demo/app",
            r"taco: 2 units are not up to date",
            r"exit status 6",
            # 6: app re-applied
            r'subnet = "10\.1\.1\.0/24"',
            r"demo/app +up to date +0 +-",
            r"demo/frontend +needs re-apply +1 +demo/app:subnet",
            # 7: frontend re-applied
            r'allowed_cidr = "10\.1\.1\.0/24"',
            r"Total: 3 units: 3 up to date",
            # 8: a change while the graph unit is locked shows at once
            r"Unit locked: __opentaco_system",
            r'vpc_cidr = "10\.2\.0\.0/16"',
            r"demo/app +needs re-apply +1 +demo/network:vpc_cidr",
            r"Unit unlocked: __opentaco_system",
        ],
    )
    # The last notifications follow the commit of the update held back by the lock.
    assert_webhooks(platform)
    graph = read_graph(platform.get(f"/v1/backend/{GRAPH_UNIT}").content)
    assert graph is not None
    assert sorted((e.from_unit_id, e.to_unit_id, e.status) for e in graph.edges) == [
        ("demo/app", "demo/frontend", "ok"),
        ("demo/network", "demo/app", "pending"),
    ]
    versions = platform.get(f"/v1/units/{GRAPH_UNIT}/versions").json()["versions"]
    assert {v["surface"] for v in versions} == {"backend", "system"}
    assert not any(v["quarantined"] for v in versions)
    assert len({v["lineage"] for v in versions}) == 1


def assert_webhooks(platform: Platform) -> None:
    """Every colour change, in order, each signed with the secret."""
    expected = [
        ("demo/app", "green", "red"),
        ("demo/frontend", "green", "yellow"),
        ("demo/app", "red", "green"),
        ("demo/frontend", "yellow", "red"),
        ("demo/frontend", "red", "green"),
        ("demo/app", "green", "red"),
        ("demo/frontend", "green", "yellow"),
    ]

    async def wait() -> None:
        with anyio.fail_after(20):
            await platform.receiver.wait_for(len(expected))

    platform.portal.call(wait)
    received = platform.receiver.received
    assert [(b["unit_id"], b["from"], b["to"]) for b in platform.receiver.bodies()] == expected
    for headers, body in received:
        assert headers[SIGNATURE_HEADER] == signature(SECRET, body)
        assert json.loads(body)["type"] == "unit.status_changed"
