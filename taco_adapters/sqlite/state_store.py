"""The embedded default ``StateStore``: one SQLite file, durable, multi-process safe.

Why it holds across processes: every mutating method runs in one
``BEGIN IMMEDIATE`` transaction (``taco_adapters.sqlite.database``), which SQLite
grants to a single connection at a time across every process sharing the
file; the lock and head checks run inside that transaction, so the database,
not the Python process, decides who holds a lock. WAL with
``synchronous=FULL`` makes every acknowledged commit survive a crash of the
process or the machine.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from taco_adapters.sqlite.database import SqliteDatabase, execute_script
from taco_adapters.timestamps import decode_optional_time, decode_time, encode_time
from taco_adapters.wire import held_lock_from_json, lock_json
from taco_core import locks, retention
from taco_core.errors import (
    ConcurrentUpdate,
    LockConflict,
    StorageUnavailable,
    UnitAlreadyExists,
    UnitNotFound,
    VersionNotFound,
)
from taco_core.model import (
    MAX_NUMBER,
    LockInfo,
    NewVersion,
    RetentionPolicy,
    StateVersion,
    Unit,
    UnitId,
    VersionPage,
)

SCHEMA_VERSION = 1

# A unit row is one incarnation of an ID: deleting hides the row (deleted_at)
# and frees the ID at once, so the same ID can be created again while the
# deleted incarnation and its versions wait, recoverable, for the purge.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS units (
    key         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL,
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL,
    size        INTEGER NOT NULL DEFAULT 0,
    labels      TEXT NOT NULL DEFAULT '{}',
    head        INTEGER,
    next_number INTEGER NOT NULL DEFAULT 1,
    lock        TEXT,
    deleted_at  TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS units_live_id ON units (id) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS units_deleted ON units (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS blobs (
    id   INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    unit_key      INTEGER NOT NULL,
    number        INTEGER NOT NULL,
    serial        INTEGER,
    lineage       TEXT,
    size          INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    md5           TEXT NOT NULL,
    created       TEXT NOT NULL,
    author        TEXT NOT NULL,
    surface       TEXT NOT NULL,
    quarantined   INTEGER NOT NULL,
    note          TEXT NOT NULL,
    restored_from INTEGER,
    blob_id       INTEGER NOT NULL,
    PRIMARY KEY (unit_key, number)
);
"""

_UNIT_COLUMNS = "key, id, created, updated, size, labels, head, lock, deleted_at"
_VERSION_COLUMNS = (
    "number, serial, lineage, size, sha256, md5, created, author, surface, "
    "quarantined, note, restored_from"
)


class SqliteStateStore:
    """``StateStore`` in one SQLite database file."""

    def __init__(self, path: str | Path, *, connections: int = 4, busy_timeout: float = 30.0):
        self._db = SqliteDatabase(path, connections=connections, busy_timeout=busy_timeout)
        self.path = self._db.path

    @classmethod
    async def open(cls, path: str | Path, **kwargs: Any) -> SqliteStateStore:
        """Open (creating the file, its folder and the schema) and return the store."""
        store = cls(path, **kwargs)
        await store._db.open(store._create_schema)
        return store

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        found = conn.execute("PRAGMA user_version").fetchone()[0]
        if found > SCHEMA_VERSION:
            raise StorageUnavailable(
                f"database {self.path} has schema version {found}, newer than this "
                f"OpenTaco understands ({SCHEMA_VERSION}); upgrade OpenTaco"
            )
        execute_script(conn, _SCHEMA)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # -- units ---------------------------------------------------------------

    async def create_unit(self, unit: Unit) -> Unit:
        def op(conn: sqlite3.Connection) -> Unit:
            found = conn.execute(
                "SELECT 1 FROM units WHERE id = ? AND deleted_at IS NULL", (unit.id,)
            ).fetchone()
            if found:
                raise UnitAlreadyExists(unit.id)
            conn.execute(
                "INSERT INTO units (id, created, updated, labels) VALUES (?, ?, ?, ?)",
                (
                    unit.id,
                    encode_time(unit.created),
                    encode_time(unit.updated),
                    json.dumps(dict(unit.labels)),
                ),
            )
            return unit

        return await self._db.run(op, write=True)

    async def get_unit(self, unit_id: UnitId) -> Unit:
        def op(conn: sqlite3.Connection) -> Unit:
            return _live(conn, unit_id)[1]

        return await self._db.run(op, write=False)

    async def list_units(self, prefix: str = "", *, deleted: bool = False) -> Sequence[Unit]:
        where = "deleted_at IS NOT NULL" if deleted else "deleted_at IS NULL"
        params: tuple[str, ...] = ()
        if prefix:
            where += " AND id >= ? AND id < ?"
            params = (prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1))

        def op(conn: sqlite3.Connection) -> list[Unit]:
            rows = conn.execute(
                f"SELECT {_UNIT_COLUMNS} FROM units WHERE {where} ORDER BY id, deleted_at DESC",
                params,
            )
            return [_unit_of(row)[1] for row in rows]

        return await self._db.run(op, write=False)

    async def delete_unit(self, unit_id: UnitId, at: datetime) -> None:
        def op(conn: sqlite3.Connection) -> None:
            key, unit = _live(conn, unit_id)
            if unit.lock is not None:
                raise LockConflict(unit_id, unit.lock)
            conn.execute("UPDATE units SET deleted_at = ? WHERE key = ?", (encode_time(at), key))

        await self._db.run(op, write=True)

    async def undelete_unit(self, unit_id: UnitId) -> Unit:
        def op(conn: sqlite3.Connection) -> Unit:
            row = conn.execute(
                "SELECT key FROM units WHERE id = ? AND deleted_at IS NOT NULL "
                "ORDER BY deleted_at DESC LIMIT 1",
                (unit_id,),
            ).fetchone()
            if row is None:
                raise UnitNotFound(unit_id)
            if conn.execute(
                "SELECT 1 FROM units WHERE id = ? AND deleted_at IS NULL", (unit_id,)
            ).fetchone():
                raise UnitAlreadyExists(unit_id)
            conn.execute("UPDATE units SET deleted_at = NULL WHERE key = ?", (row[0],))
            return _live(conn, unit_id)[1]

        return await self._db.run(op, write=True)

    async def purge_deleted(self, deleted_before: datetime) -> Sequence[UnitId]:
        def op(conn: sqlite3.Connection) -> list[UnitId]:
            doomed = conn.execute(
                "SELECT key, id FROM units WHERE deleted_at IS NOT NULL AND deleted_at < ? "
                "ORDER BY id",
                (encode_time(deleted_before),),
            ).fetchall()
            for key, _ in doomed:
                conn.execute(
                    "DELETE FROM blobs WHERE id IN "
                    "(SELECT blob_id FROM versions WHERE unit_key = ?)",
                    (key,),
                )
                conn.execute("DELETE FROM versions WHERE unit_key = ?", (key,))
                conn.execute("DELETE FROM units WHERE key = ?", (key,))
            return [UnitId(unit_id) for _, unit_id in doomed]

        return await self._db.run(op, write=True)

    # -- locks ---------------------------------------------------------------

    async def lock(self, unit_id: UnitId, wanted: LockInfo) -> LockInfo:
        def op(conn: sqlite3.Connection) -> LockInfo:
            key, unit = _live(conn, unit_id)
            held = locks.check_lock(unit_id, unit.lock, wanted)
            if unit.lock is None:
                conn.execute("UPDATE units SET lock = ? WHERE key = ?", (_lock_json(held), key))
            return held

        return await self._db.run(op, write=True)

    async def unlock(self, unit_id: UnitId, lock_id: str | None) -> None:
        def op(conn: sqlite3.Connection) -> None:
            key, unit = _live(conn, unit_id)
            locks.check_unlock(unit_id, unit.lock, lock_id)
            if unit.lock is not None:
                conn.execute("UPDATE units SET lock = NULL WHERE key = ?", (key,))

        await self._db.run(op, write=True)

    # -- history -------------------------------------------------------------

    async def head(self, unit_id: UnitId) -> StateVersion | None:
        def op(conn: sqlite3.Connection) -> StateVersion | None:
            key, unit = _live(conn, unit_id)
            if unit.head is None:
                return None
            return _fetch_version(conn, key, unit_id, unit.head)

        return await self._db.run(op, write=False)

    async def unit_and_head(self, unit_id: UnitId) -> tuple[Unit, StateVersion | None]:
        def op(conn: sqlite3.Connection) -> tuple[Unit, StateVersion | None]:
            key, unit = _live(conn, unit_id)
            if unit.head is None:
                return unit, None
            return unit, _fetch_version(conn, key, unit_id, unit.head)

        return await self._db.run(op, write=False)

    async def commit(
        self,
        unit_id: UnitId,
        new: NewVersion,
        *,
        expected_head: int | None,
        lock_id: str | None,
        retention: RetentionPolicy,
    ) -> StateVersion:
        def op(conn: sqlite3.Connection) -> StateVersion:
            key, unit = _live(conn, unit_id)
            locks.check_write(unit_id, unit.lock, lock_id)
            if not new.quarantined and unit.head != expected_head:
                raise ConcurrentUpdate(unit_id)
            (number,) = conn.execute(
                "SELECT next_number FROM units WHERE key = ?", (key,)
            ).fetchone()
            version = StateVersion.from_new(unit_id, number, new)
            blob_id = conn.execute("INSERT INTO blobs (data) VALUES (?)", (new.data,)).lastrowid
            conn.execute(
                f"INSERT INTO versions (unit_key, {_VERSION_COLUMNS}, blob_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, *_version_row(version), blob_id),
            )
            if new.quarantined:
                conn.execute("UPDATE units SET next_number = ? WHERE key = ?", (number + 1, key))
            else:
                conn.execute(
                    "UPDATE units SET next_number = ?, head = ?, size = ?, updated = ? "
                    "WHERE key = ?",
                    (number + 1, number, version.size, encode_time(version.created), key),
                )
            head = unit.head if new.quarantined else number
            _prune(conn, key, unit_id, head, retention, new.created)
            return version

        return await self._db.run(op, write=True)

    async def read_state(self, unit_id: UnitId) -> tuple[StateVersion, bytes] | None:
        def op(conn: sqlite3.Connection) -> tuple[StateVersion, bytes] | None:
            key, unit = _live(conn, unit_id)
            if unit.head is None:
                return None
            return _fetch_version_data(conn, key, unit_id, unit.head)

        return await self._db.run(op, write=False)

    async def list_versions(self, unit_id: UnitId) -> Sequence[StateVersion]:
        def op(conn: sqlite3.Connection) -> list[StateVersion]:
            key, _ = _live(conn, unit_id)
            rows = conn.execute(
                f"SELECT {_VERSION_COLUMNS} FROM versions WHERE unit_key = ? ORDER BY number DESC",
                (key,),
            )
            return [_version_of(unit_id, row) for row in rows]

        return await self._db.run(op, write=False)

    async def read_version(self, unit_id: UnitId, number: int) -> tuple[StateVersion, bytes]:
        def op(conn: sqlite3.Connection) -> tuple[StateVersion, bytes]:
            key, _ = _live(conn, unit_id)
            return _fetch_version_data(conn, key, unit_id, number)

        return await self._db.run(op, write=False)

    async def version_page(self, unit_id: UnitId, *, offset: int, limit: int) -> VersionPage:
        def op(conn: sqlite3.Connection) -> VersionPage:
            key, _ = _live(conn, unit_id)
            (total,) = conn.execute(
                "SELECT COUNT(*) FROM versions WHERE unit_key = ?", (key,)
            ).fetchone()
            rows = conn.execute(
                f"SELECT {_VERSION_COLUMNS} FROM versions WHERE unit_key = ? "
                "ORDER BY number DESC LIMIT ? OFFSET ?",
                (key, limit, offset),
            )
            return VersionPage(tuple(_version_of(unit_id, row) for row in rows), total)

        return await self._db.run(op, write=False)

    async def ping(self) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute("SELECT 1").fetchone()

        await self._db.run(op, write=False)

    async def aclose(self) -> None:
        await self._db.aclose()


# -- row mapping -------------------------------------------------------------


def _lock_json(lock: LockInfo) -> str:
    return json.dumps(lock_json(lock))


def _unit_of(row: tuple[Any, ...]) -> tuple[int, Unit]:
    key, unit_id, created, updated, size, labels, head, lock, deleted_at = row
    return key, Unit(
        id=UnitId(unit_id),
        created=decode_time(created),
        updated=decode_time(updated),
        size=size,
        labels=json.loads(labels) if labels != "{}" else {},
        head=head,
        lock=held_lock_from_json(json.loads(lock)) if lock else None,
        deleted_at=decode_optional_time(deleted_at),
    )


def _live(conn: sqlite3.Connection, unit_id: UnitId) -> tuple[int, Unit]:
    """The live incarnation of ``unit_id`` and its row key; ``UnitNotFound``."""
    row = conn.execute(
        f"SELECT {_UNIT_COLUMNS} FROM units WHERE id = ? AND deleted_at IS NULL", (unit_id,)
    ).fetchone()
    if row is None:
        raise UnitNotFound(unit_id)
    return _unit_of(row)


def _version_row(v: StateVersion) -> tuple[Any, ...]:
    return (
        v.number,
        v.serial,
        v.lineage,
        v.size,
        v.sha256,
        v.md5,
        encode_time(v.created),
        v.author,
        v.surface,
        int(v.quarantined),
        v.note,
        v.restored_from,
    )


def _version_of(unit_id: UnitId, row: tuple[Any, ...]) -> StateVersion:
    (number, serial, lineage, size, sha256, md5, created, author, surface,
     quarantined, note, restored_from) = row  # fmt: skip
    return StateVersion(
        unit_id=unit_id,
        number=number,
        serial=serial,
        lineage=lineage,
        size=size,
        sha256=sha256,
        md5=md5,
        created=decode_time(created),
        author=author,
        surface=surface,
        quarantined=bool(quarantined),
        note=note,
        restored_from=restored_from,
    )


def _fetch_version(
    conn: sqlite3.Connection, key: int, unit_id: UnitId, number: int
) -> StateVersion:
    if not 0 <= number <= MAX_NUMBER:
        # No such version can exist, and SQLite could not even bind the number.
        raise VersionNotFound(unit_id, number)
    row = conn.execute(
        f"SELECT {_VERSION_COLUMNS} FROM versions WHERE unit_key = ? AND number = ?",
        (key, number),
    ).fetchone()
    if row is None:
        raise VersionNotFound(unit_id, number)
    return _version_of(unit_id, row)


def _fetch_version_data(
    conn: sqlite3.Connection, key: int, unit_id: UnitId, number: int
) -> tuple[StateVersion, bytes]:
    version = _fetch_version(conn, key, unit_id, number)
    (data,) = conn.execute(
        "SELECT b.data FROM versions v JOIN blobs b ON b.id = v.blob_id "
        "WHERE v.unit_key = ? AND v.number = ?",
        (key, number),
    ).fetchone()
    return version, bytes(data)


def _prune(
    conn: sqlite3.Connection,
    key: int,
    unit_id: UnitId,
    head: int | None,
    policy: RetentionPolicy,
    now: datetime,
) -> None:
    (count, quarantined) = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(quarantined), 0) FROM versions WHERE unit_key = ?",
        (key,),
    ).fetchone()
    if count <= policy.max_versions and not quarantined:
        return  # nothing can be due: skip building the history on every write
    rows = conn.execute(
        f"SELECT {_VERSION_COLUMNS} FROM versions WHERE unit_key = ?", (key,)
    ).fetchall()
    doomed = retention.prunable((_version_of(unit_id, r) for r in rows), head, policy, now)
    for number in doomed:
        conn.execute(
            "DELETE FROM blobs WHERE id = (SELECT blob_id FROM versions "
            "WHERE unit_key = ? AND number = ?)",
            (key, number),
        )
        conn.execute("DELETE FROM versions WHERE unit_key = ? AND number = ?", (key, number))
