"""Fixtures for the CLI tests: the ``taco`` command run as a subprocess.

One ``opentacosvc`` serves a whole test module (starting one takes a second);
tests keep out of each other's way with unit IDs of their own, and each runs
``taco`` in its own working directory, so saved lock IDs (``.taco/``) never
leak between tests.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Server, running_server


def state(serial: int, lineage: str = "lin-1") -> bytes:
    """A minimal Terraform state."""
    return (
        f'{{"version": 4, "terraform_version": "1.5.0", "serial": {serial}, '
        f'"lineage": "{lineage}", "outputs": {{}}, "resources": []}}\n'
    ).encode()


class Result:
    def __init__(self, proc: subprocess.CompletedProcess[bytes]) -> None:
        self.code = proc.returncode
        self.stdout_bytes = proc.stdout
        self.out = proc.stdout.decode()
        self.err = proc.stderr.decode()

    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"<exit {self.code}\nstdout: {self.out}\nstderr: {self.err}>"


class Taco:
    """Runs ``python -m taco_cli`` in ``cwd`` against ``server``.

    ``XDG_CONFIG_HOME`` points into the test's own directory (``config``
    beside ``cwd`` unless given), so saved credentials never touch, or come
    from, the real home directory.
    """

    def __init__(self, cwd: Path, server: str | None, config: Path | None = None) -> None:
        self.cwd = cwd
        self.server = server
        self.config = config or cwd.parent / "config"

    @property
    def credentials(self) -> Path:
        """Where ``taco login`` saves tokens for this runner."""
        return self.config / "opentaco" / "credentials.json"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("OPENTACO_")}
        full_env["XDG_CONFIG_HOME"] = str(self.config)
        full_env.pop("BROWSER", None)
        if self.server is not None:
            full_env["OPENTACO_SERVER"] = self.server
        full_env.update(extra or {})
        return full_env

    def __call__(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "taco_cli", *args],
            input=stdin or b"",
            capture_output=True,
            cwd=cwd or self.cwd,
            env=self.env(env),
            timeout=60,
            check=False,
        )
        return Result(proc)

    def start(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``taco`` without waiting (a login that waits for its browser)."""
        return subprocess.Popen(
            [sys.executable, "-m", "taco_cli", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.cwd,
            env=self.env(env),
        )

    def ok(self, *args: str, **kwargs: Any) -> Result:
        """Run and insist on exit 0."""
        result = self(*args, **kwargs)
        assert result.code == 0, result
        assert "Traceback" not in result.err, result
        return result


@pytest.fixture(scope="module")
def cli_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One fresh ``opentacosvc`` on SQLite for the test module."""
    with running_server(tmp_path_factory.mktemp("svc")) as srv:
        yield srv


@pytest.fixture
def taco(cli_server: Server, tmp_path: Path) -> Taco:
    work = tmp_path / "work"
    work.mkdir()
    return Taco(work, cli_server.url)


_ids = itertools.count()


@pytest.fixture
def unit_id(request: pytest.FixtureRequest) -> str:
    """A unit ID no other test in the module uses."""
    name = request.node.name.split("[")[0].removeprefix("test_").replace("_", "-")
    return f"cli/{name}-{next(_ids)}"
