"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import Server, running_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh ``opentacosvc`` on SQLite in a temporary directory."""
    with running_server(tmp_path / "svc") as srv:
        yield srv
