"""The ``DirectoryStore`` contract (organizations and users, one document by
compare-and-swap), run against every adapter: memory, SQLite, and S3 on the
session's real SeaweedFS server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from taco_adapters.memory import MemoryDirectoryStore
from taco_adapters.s3 import S3DirectoryStore, S3StateStore
from taco_adapters.sqlite import SqliteDirectoryStore, SqliteStateStore
from taco_core.directory import Directory, Organization, User
from taco_core.model import Unit, UnitId
from taco_core.ports import DirectoryStore
from tests.s3_server import S3Server

T0 = datetime(2026, 1, 1, 12, 30, 15, 123456, tzinfo=UTC)


def directory(version: int = 1, *names: str) -> Directory:
    orgs = [
        Organization(
            id=f"id-{n}",
            name=n,
            display_name=f"{n.title()} Org",
            external_id=f"org_{n}",
            created_by="user_1",
            created_at=T0,
        )
        for n in names or ("acme",)
    ]
    users = [User("user_1", T0, "u1@example.test", tuple(o.id for o in orgs))]
    return Directory(
        version=version,
        organizations={o.id: o for o in orgs},
        users={u.subject: u for u in users},
    )


async def open_s3(request: pytest.FixtureRequest, bucket: str | None = None) -> S3DirectoryStore:
    server: S3Server = request.getfixturevalue("s3_server")
    return await S3DirectoryStore.open(
        bucket or server.new_bucket(),
        prefix="team/states",
        region=server.region,
        endpoint_url=server.endpoint_url,
        session=server.session(),
    )


@pytest.fixture(params=["memory", "sqlite", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DirectoryStore]:
    if request.param == "memory":
        yield MemoryDirectoryStore()
        return
    opened: SqliteDirectoryStore | S3DirectoryStore
    if request.param == "sqlite":
        opened = await SqliteDirectoryStore.open(tmp_path / "taco.db")
    else:
        opened = await open_s3(request)
    try:
        yield opened
    finally:
        await opened.aclose()


async def test_a_fresh_store_has_no_directory(store: DirectoryStore) -> None:
    """Nothing was ever saved: load answers None."""
    assert await store.load() is None


async def test_every_field_round_trips(store: DirectoryStore) -> None:
    """What is saved is what is loaded, microseconds and tuples included."""
    saved = directory(1, "acme", "globex")
    assert await store.save(saved, None)
    assert await store.load() == saved


async def test_save_is_compare_and_swap_on_the_version(store: DirectoryStore) -> None:
    """A save expecting the wrong version (or expecting none when one is
    stored) changes nothing and answers False."""
    first = directory(1)
    assert await store.save(first, None)
    assert not await store.save(directory(2, "other"), None)
    assert not await store.save(directory(3, "other"), 2)
    assert await store.load() == first
    second = directory(2, "acme", "globex")
    assert await store.save(second, 1)
    assert await store.load() == second


async def test_concurrent_savers_have_exactly_one_winner(store: DirectoryStore) -> None:
    """Of savers racing from the same version, exactly one wins, and the
    stored document is the winner's."""
    assert await store.save(directory(1), None)
    won: list[Directory] = []

    async def save(n: int) -> None:
        candidate = directory(2, f"org{n}")
        if await store.save(candidate, 1):
            won.append(candidate)

    async with anyio.create_task_group() as tg:
        for n in range(6):
            tg.start_soon(save, n)
    assert len(won) == 1
    assert await store.load() == won[0]


async def test_sqlite_stores_on_one_file_share_the_directory(tmp_path: Path) -> None:
    """Two stores on one file (two replicas) see each other's saves, and the
    states in the same file are untouched."""
    path = tmp_path / "taco.db"
    states = await SqliteStateStore.open(path)
    a = await SqliteDirectoryStore.open(path)
    b = await SqliteDirectoryStore.open(path)
    try:
        assert await a.save(directory(1), None)
        assert await b.load() == directory(1)
        assert not await b.save(directory(1, "x"), None)
        assert await states.list_units() == []
    finally:
        for store in (a, b, states):
            await store.aclose()


async def test_the_s3_directory_is_no_unit(request: pytest.FixtureRequest) -> None:
    """The directory's object lives under __opentaco/, where no unit can be:
    a state store on the same bucket and prefix lists only real units."""
    server: S3Server = request.getfixturevalue("s3_server")
    bucket = server.new_bucket()
    store = await open_s3(request, bucket)
    states = await S3StateStore.open(
        bucket,
        prefix="team/states",
        region=server.region,
        endpoint_url=server.endpoint_url,
        session=server.session(),
    )
    try:
        assert await store.save(directory(1), None)
        await states.create_unit(Unit(id=UnitId("acme/prod"), created=T0, updated=T0))
        assert [u.id for u in await states.list_units()] == ["acme/prod"]
        assert store.key == "team/states/__opentaco/directory/directory.json"
    finally:
        await store.aclose()
        await states.aclose()
