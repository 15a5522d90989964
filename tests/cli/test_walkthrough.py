"""docs/cli.md's walkthrough, run as written against a fresh ``opentacosvc``.

Each ``$`` line of the walkthrough is run by bash with the installed ``taco``
on ``PATH``; its output (stdout and stderr) must equal the lines the document
shows, once times, lock IDs, the user's name and the server's port are masked.
The server runs as installed, with authentication on, in the walkthrough's own
directory, so the admin token it writes on its first start is where the
document says.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.servers import Server, running_server

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"

_MASKS = (
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"), "<time>"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"(Who: +)\S+"), r"\1<who>"),
    (re.compile(r"http://127\.0\.0\.1:\d+"), "<server>"),
)


def mask(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def walkthrough() -> list[tuple[str, str]]:
    """(command, expected output) pairs from the doc's Walkthrough section."""
    section = DOC.read_text().split("## Walkthrough", 1)[1]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return [(command, "".join(f"{line}\n" for line in out)) for command, out in steps]


def test_the_documented_walkthrough_runs_exactly_as_documented(tmp_path: Path) -> None:
    """login, create, ls, info, push, pull, lock, unlock, acquire, release, versions, rm."""
    steps = walkthrough()
    assert [c.split()[1] for c in (s[0] for s in steps) if c.startswith("taco ")][:1] == ["login"]
    assert [c.split()[2] for c in (s[0] for s in steps) if c.startswith("taco unit ")] == [
        "create",
        "ls",
        "info",
        "push",
        "pull",
        "pull",
        "lock",
        "info",
        "unlock",
        "acquire",
        "release",
        "versions",
        "rm",
        "ls",
    ]
    with running_server(tmp_path, auth_disable=False) as server:
        run_steps(steps, server, tmp_path)


def run_steps(steps: list[tuple[str, str]], server: Server, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENTACO_")}
    env["OPENTACO_SERVER"] = server.url
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for command, expected in steps:
        proc = subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, f"$ {command}\n{proc.stdout}"
        assert mask(proc.stdout) == mask(expected), f"$ {command}"
