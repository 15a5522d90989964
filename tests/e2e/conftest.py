"""Fixtures for the end-to-end tests: real Terraform and real service processes.

A Terraform version that is not installed fails the tests that need it (with
the ``pip install`` command that fixes it); it never skips them, so a CI run
without Terraform cannot pass by testing nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.e2e.terraform import VERSIONS, Terraform, TerraformMissing, locate
from tests.servers import Server, start_server

_located: dict[str, Terraform] = {}


@pytest.fixture(scope="session", params=VERSIONS, ids=[f"tf{v}" for v in VERSIONS])
def terraform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Terraform:
    """Terraform 1.0.3 and 1.15.5 in turn, checked to be the version it claims."""
    version: str = request.param
    if version not in _located:
        try:
            tf = locate(version, tmp_path_factory.mktemp(f"terraform-{version}"))
        except TerraformMissing as exc:
            missing = str(exc)
        else:
            missing = ""
        if missing:
            pytest.fail(missing, pytrace=False)
        reported = tf.run("version", cwd=tmp_path_factory.getbasetemp()).stdout
        assert reported.startswith(f"Terraform v{version}\n"), reported
        _located[version] = tf
    return _located[version]


class Spawner:
    """Starts ``opentacosvc`` processes for one test and stops every one after it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.started: list[Server] = []

    def __call__(
        self, name: str, *, db: Path, args: Sequence[str] = (), port: int | None = None
    ) -> Server:
        """A server with working directory ``base/name`` on the SQLite file ``db``."""
        server = start_server(
            self.base / name, args=["--sqlite-db-path", str(db), *args], port=port
        )
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawner]:
    """Start service processes on chosen SQLite files; all are stopped afterwards."""
    spawner = Spawner(tmp_path)
    try:
        yield spawner
    finally:
        spawner.stop_all()
