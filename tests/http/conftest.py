"""In-process HTTP tests: the real Starlette app over the memory fake or SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from taco_http.app import create_app
from taco_http.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        storage="sqlite",
        sqlite_db_path=tmp_path / "taco.db",
        max_state_bytes=64_000,
        auth_disable=True,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def memory_client() -> Iterator[TestClient]:
    settings = Settings(storage="memory", auth_disable=True)
    with TestClient(create_app(settings)) as c:
        yield c
