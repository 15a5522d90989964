"""docs/library.md's examples are complete programs; run them as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.servers import Server, running_server

DOC = Path(__file__).resolve().parents[2] / "docs" / "library.md"


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def run(code: str, cwd: Path, server: Server, token: str = "") -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENTACO_")}
    env["OPENTACO_SERVER"] = server.url
    if token:
        env["OPENTACO_TOKEN"] = token
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_library_examples_run_against_a_server_and_embedded(
    cli_server: Server, tmp_path: Path
) -> None:
    """The remote example talks to a live server with authentication on (an
    API token in OPENTACO_TOKEN); the embedded one to a SQLite file."""
    remote, embedded = examples()
    with running_server(tmp_path / "svc", auth_disable=False) as secured:
        token = (tmp_path / "svc" / "data" / "admin-token").read_text().strip()
        out = run(remote, tmp_path, secured, token)
    lines = out.splitlines()
    assert lines[:2] == ["now at version 1", "now at version 2"]
    assert lines[2].startswith("locked by bob@ci since ")
    assert re.search(r"^2 2 \d+$", out, flags=re.MULTILINE)
    out = run(embedded, tmp_path, cli_server)
    assert "refused: serial 4 is older than the current serial 5 - kept as version 2" in out
    assert "examples/embedded is at version 1 with" in out
    assert (tmp_path / "states" / "taco.db").exists()
