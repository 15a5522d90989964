"""Dependencies between units with real Terraform (1.0.3 and 1.15.5), authentication
on: ``docs/dependencies.md``'s walkthrough runs as written.

demo/network -> demo/app -> demo/frontend, each its own configuration on the http
backend, reading the one before it with ``terraform_remote_state``; the edges are
written to ``__opentaco_system`` by ``terraform state push``. Changing the network makes
app red and frontend yellow; re-applying app makes it green and frontend red;
re-applying frontend makes all green; a change made while the graph unit is locked shows
at once and is committed when the lock is released. A webhook receiver on a loopback port
gets every status change, signed. Then the same sequence again while another Terraform
holds the lock of ``__opentaco_system``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import anyio.from_thread
import attrs
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


@attrs.frozen
class Walked:
    """The walkthrough, run once in the platform's directory: what it printed,
    and the user's shell it ran in."""

    out: str
    returncode: int
    env: dict[str, str]


def sh(script: str, platform: Platform, env: dict[str, str]) -> str:
    """Run ``script`` in the user's shell in the platform's directory; its output."""
    proc = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=platform.workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )
    out = _ANSI.sub("", strip_debug(proc.stdout))
    assert proc.returncode == 0, out
    return out


@pytest.fixture(scope="module")
def walked(
    terraform: Terraform, platform: Platform, tmp_path_factory: pytest.TempPathFactory
) -> Walked:
    env = user_env(terraform, tmp_path_factory.mktemp("home"), platform.server)
    proc = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + walkthrough()],
        cwd=platform.workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )
    return Walked(_ANSI.sub("", strip_debug(proc.stdout)), proc.returncode, env)


def test_the_documented_walkthrough_runs_as_written(walked: Walked, platform: Platform) -> None:
    """Every step as documented, both Terraform versions: the statuses change as
    the rules say, the lock is honoured and caught up with, webhooks arrive signed."""
    out = walked.out
    assert walked.returncode == 0, out
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


def colours(platform: Platform) -> dict[str, str]:
    """Every demo unit's status, as a status read answers now."""
    listed = platform.get("/v1/status?prefix=demo/").json()["units"]
    return {u["unit_id"].removeprefix("demo/"): u["status"] for u in listed}


def eventually(check: Callable[[], bool], what: str, seconds: float = 60) -> None:
    """Wait (polling) for something another process does."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.1)


class Holder:
    """``terraform apply`` of the graph's configuration (the walkthrough's
    ``platform`` directory), stopped at an input prompt: it holds the lock of
    ``__opentaco_system`` as any Terraform does from before it reads the state
    until it exits."""

    PROMPT = "Enter a value:"

    def __init__(self, terraform: Terraform, platform: Platform, env: dict[str, str]) -> None:
        (platform.workdir / "platform" / "hold.tf").write_text(
            'variable "confirm" {\n  type = string\n}\n'
        )
        env = {k: v for k, v in env.items() if k != "TF_INPUT"}  # let it ask
        self.proc = subprocess.Popen(
            [*terraform.command, "-chdir=platform", "apply", "-input=true"],
            cwd=platform.workdir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output = ""
        self.prompted = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while chunk := self.proc.stdout.read(1):
            self.output += chunk
            if self.PROMPT in self.output:
                self.prompted.set()
        self.prompted.set()  # exited: stop waiting

    def answer(self, text: str) -> int:
        """Answer the prompt; Terraform's exit status once it is done."""
        assert self.proc.stdin is not None
        if self.proc.poll() is None:
            self.proc.stdin.write(text + "\n")
            self.proc.stdin.close()
        returncode = self.proc.wait(120)
        self._reader.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.output = _ANSI.sub("", strip_debug(self.output))
        return returncode


def test_the_same_while_terraform_holds_the_graph_lock(
    terraform: Terraform, walked: Walked, platform: Platform
) -> None:
    """network -> app -> frontend again while another Terraform holds the lock of
    __opentaco_system: each status read right after an apply shows its effect
    (app red and frontend yellow; then app green and frontend red; then all
    green), nothing is written to the graph under that lock, and the service's
    update lands once Terraform releases it."""
    assert walked.returncode == 0, walked.out
    # As step 1 of the walkthrough exports them.
    env = {**walked.env, "OPENTACO_TOKEN": platform.token, "TF_HTTP_PASSWORD": platform.token}
    sh("terraform -chdir=app apply -auto-approve -input=false", platform, env)
    sh("terraform -chdir=frontend apply -auto-approve -input=false", platform, env)
    assert colours(platform) == {"app": "green", "frontend": "green", "network": "green"}
    holder = Holder(terraform, platform, env)
    try:
        assert holder.prompted.wait(120), holder.output
        lock = platform.get(f"/v1/units/{GRAPH_UNIT}").json()["lock"]
        assert lock is not None, holder.output
        assert (lock["operation"], lock["version"]) == ("OperationTypeApply", terraform.version)
        before = platform.get(f"/v1/units/{GRAPH_UNIT}/versions").json()["versions"]
        apply = "terraform -chdir={} apply -auto-approve -input=false"
        sh(apply.format("network") + " -var cidr=10.3.0.0/16", platform, env)
        assert colours(platform) == {"app": "red", "frontend": "yellow", "network": "green"}
        sh(apply.format("app"), platform, env)
        assert colours(platform) == {"app": "green", "frontend": "red", "network": "green"}
        sh(apply.format("frontend"), platform, env)
        assert colours(platform) == {"app": "green", "frontend": "green", "network": "green"}
        assert platform.get(f"/v1/units/{GRAPH_UNIT}/versions").json()["versions"] == before
        assert platform.get(f"/v1/units/{GRAPH_UNIT}").json()["lock"]["id"] == lock["id"]
    finally:
        # Terraform goes on to plan, which needs the opentaco provider (not
        # installed here): it fails, and releases the lock on its way out.
        returncode = holder.answer("yes")
    assert returncode == 1 and "opentaco" in holder.output, holder.output
    assert platform.get(f"/v1/units/{GRAPH_UNIT}").json()["lock"] is None

    def committed() -> bool:
        graph = read_graph(platform.get(f"/v1/backend/{GRAPH_UNIT}").content)
        assert graph is not None
        return all(e.status == "ok" and e.in_digest == e.out_digest for e in graph.edges)

    eventually(committed, "the graph's update after the lock was released")
    versions = platform.get(f"/v1/units/{GRAPH_UNIT}/versions").json()["versions"]
    newer = [v for v in versions if v["number"] > max(v["number"] for v in before)]
    assert newer and {v["surface"] for v in newer} == {"system"}
    assert not any(v["quarantined"] for v in versions)
    assert colours(platform) == {"app": "green", "frontend": "green", "network": "green"}
