"""Every ``StateStore`` adapter runs the same contract suite.

An adapter joins the suite by adding a factory to ``STORE_FACTORIES``: an async
context manager that yields a fresh, empty store. Adapters that need a real
server (S3) use the session-wide server from ``tests/conftest.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from taco_adapters.memory import MemoryStateStore
from taco_adapters.s3 import S3StateStore
from taco_adapters.sqlite import SqliteStateStore
from taco_core.ports import StateStore
from tests.s3_server import S3Server


@contextlib.asynccontextmanager
async def memory_store(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    yield MemoryStateStore()


@contextlib.asynccontextmanager
async def sqlite_store(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    store = await SqliteStateStore.open(tmp_path / "taco.db")
    try:
        yield store
    finally:
        await store.aclose()


@contextlib.asynccontextmanager
async def s3_store(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    """A store on a fresh bucket with no key prefix: the layout of a plain
    Terragrunt bucket, the one with the least room for our own objects."""
    server: S3Server = request.getfixturevalue("s3_server")
    store = await S3StateStore.open(
        server.new_bucket(),
        region=server.region,
        endpoint_url=server.endpoint_url,
        session=server.session(),
    )
    try:
        yield store
    finally:
        await store.aclose()


STORE_FACTORIES: dict[str, Callable[..., Any]] = {
    "memory": memory_store,
    "sqlite": sqlite_store,
    "s3": s3_store,
}


@pytest.fixture(params=sorted(STORE_FACTORIES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateStore]:
    async with STORE_FACTORIES[request.param](tmp_path, request) as s:
        yield s
