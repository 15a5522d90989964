"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.s3_server import S3Server, run_weed
from tests.servers import Server, running_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh ``opentacosvc`` on SQLite in a temporary directory."""
    with running_server(tmp_path / "svc") as srv:
        yield srv


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS server for the whole session (contract and end-to-end tests;
    it takes about a second to start); tests isolate themselves with a bucket each."""
    with run_weed(tmp_path_factory.mktemp("weed")) as server:
        yield server
