"""What only the SQLite adapter promises about its files: they are private
from the first byte, whatever the process umask, and a database that cannot
be created or opened is StorageUnavailable naming its path."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from taco_adapters.sqlite import SqliteAuthStore, SqliteStateStore, companion_files
from taco_core.errors import StorageUnavailable
from taco_core.model import NewVersion, RetentionPolicy, Unit, UnitId
from taco_core.state_doc import read_facts

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The most common umask (022), which would leave new files readable by all."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("loose_umask")
async def test_new_folders_and_files_are_private(tmp_path: Path) -> None:
    """Missing folders are created 0700, the database 0600, and SQLite's -wal and
    -shm files take the database's mode, even under umask 022."""
    db = tmp_path / "a" / "b" / "taco.db"
    store = await SqliteStateStore.open(db)
    auth = await SqliteAuthStore.open(db)
    try:
        await store.create_unit(Unit(id=UnitId("u"), created=T0, updated=T0))
        data = b'{"serial": 1, "lineage": "L"}'
        await store.commit(
            UnitId("u"),
            NewVersion(facts=read_facts(data), data=data, created=T0),
            expected_head=None,
            lock_id=None,
            retention=RetentionPolicy(),
        )
        files = companion_files(db)
        assert all(f.exists() for f in files), [f.name for f in files if not f.exists()]
        for f in files:
            assert mode(f) == 0o600, (f.name, oct(mode(f)))
        assert mode(db.parent) == 0o700
        assert mode(db.parent.parent) == 0o700
    finally:
        await auth.aclose()
        await store.aclose()


async def test_a_database_path_under_a_file_names_the_path(tmp_path: Path) -> None:
    """A database whose folder is a file is StorageUnavailable naming the database."""
    (tmp_path / "data").write_text("not a folder")
    db = tmp_path / "data" / "taco.db"
    with pytest.raises(StorageUnavailable, match=str(db)):
        await SqliteStateStore.open(db)


async def test_a_file_that_is_not_sqlite_names_the_path(tmp_path: Path) -> None:
    """A database path holding something else is StorageUnavailable naming it."""
    db = tmp_path / "taco.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageUnavailable, match=str(db)):
        await SqliteStateStore.open(db)
