"""The embedded default ``StateStore``: one SQLite file, durable, multi-process safe.

Why it holds across processes: every mutating method runs in one
``BEGIN IMMEDIATE`` transaction (``taco_adapters.sqlite.database``), which SQLite
grants to a single connection at a time across every process sharing the
file; the lock and head checks run inside that transaction, so the database,
not the Python process, decides who holds a lock. WAL with
``synchronous=FULL`` makes every acknowledged commit survive a crash of the
process or the machine.

Why it is fast where it matters (``docs/performance.md``):

- A GET of the current state is served from ``ByteCache`` when its
  ``(unit row, head number)`` is still what one indexed query on the event
  loop reads (``SqliteDatabase.read_inline``): version rows never change, so
  that pair names the bytes exactly, in every process sharing the file.
- A large state is written and read through SQLite's incremental blob I/O in
  slices, and streamed to the client from one read transaction, so the
  process never holds it twice.
- A listing renders each unit's JSON in SQL, and keeps the rendered text
  keyed by the row's ``rev`` (bumped by every change of the row), so listing
  100,000 units builds no object per unit.
- Superseded versions are compressed after the commit that replaced them, in
  a background thread (``taco_adapters.sqlite.compaction``); the current
  version stays whole.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio.to_thread
import attrs

from taco_adapters.byte_cache import DEFAULT_BUDGET, ByteCache
from taco_adapters.sqlite.compaction import Compactor, blob_bytes
from taco_adapters.sqlite.database import SqliteDatabase, execute_script
from taco_adapters.timestamps import decode_optional_time, decode_time, encode_time
from taco_adapters.wire import held_lock_from_json, lock_json, unit_document
from taco_core import locks
from taco_core.content import BytesReader, StateReader
from taco_core.errors import (
    ConcurrentUpdate,
    LockConflict,
    StorageUnavailable,
    UnitAlreadyExists,
    UnitNotFound,
    VersionNotFound,
)
from taco_core.labels import apply_label_changes
from taco_core.model import (
    MAX_NUMBER,
    LockInfo,
    NewVersion,
    Payload,
    RetentionPolicy,
    StateVersion,
    Unit,
    UnitId,
    VersionPage,
)

# 2: units.rev (listing cache), blobs.encoding and blobs.base (compressed
# history). A version-1 file is upgraded in place when opened (two ADD
# COLUMNs and one index: no table is rewritten); its whole versions stay as
# they are until the compactor gets to them.
SCHEMA_VERSION = 2

# A unit row is one incarnation of an ID: deleting hides the row (deleted_at)
# and frees the ID at once, so the same ID can be created again while the
# deleted incarnation and its versions wait, recoverable, for the purge.
# ``rev`` grows with every change of the row, so a rendered row is known to
# be current by its (key, rev).
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
    deleted_at  TEXT,
    rev         INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS units_live_id ON units (id) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS units_deleted ON units (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS blobs (
    id       INTEGER PRIMARY KEY,
    data     BLOB NOT NULL,
    encoding INTEGER NOT NULL DEFAULT 0,
    base     INTEGER
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
# After the columns exist (a version-1 file gains them first): the listing
# reads (id, rev, key) from this index alone (``deleted_at`` is in it so that
# SQLite sees the index covers the query). Pruning (every commit) finds the
# versions past the newest kept ones, and the quarantined ones, from the two
# partial indexes alone: through the primary key it read every version row of
# the unit, a hundred of them at the default retention, twice per commit.
_INDEXES = """
CREATE INDEX IF NOT EXISTS units_live_list ON units (id, rev, deleted_at) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS versions_kept ON versions (unit_key, number) WHERE quarantined = 0;
CREATE INDEX IF NOT EXISTS versions_quarantined ON versions (unit_key, number)
    WHERE quarantined = 1
"""
_UPGRADES = (
    ("units", "rev", "ALTER TABLE units ADD COLUMN rev INTEGER NOT NULL DEFAULT 0"),
    ("blobs", "encoding", "ALTER TABLE blobs ADD COLUMN encoding INTEGER NOT NULL DEFAULT 0"),
    ("blobs", "base", "ALTER TABLE blobs ADD COLUMN base INTEGER"),
)

# A unit as the management API shows it (``taco_adapters.wire.unit_json``),
# built by SQLite. Times are stored as UTC ISO 8601 with ``+00:00`` (the
# Clock port's promise); a row that breaks it renders NULL and is rendered
# in Python instead. Labels and the lock are stored as the API's JSON.
_UTC = "'+00:00'"


def _rfc3339_sql(column: str) -> str:
    return f"'\"' || substr({column}, 1, 26) || 'Z\"'"


_DOCUMENT = (
    "CASE WHEN substr(created, 27) = " + _UTC + " AND substr(updated, 27) = " + _UTC
    + " AND (deleted_at IS NULL OR substr(deleted_at, 27) = " + _UTC + ") THEN "
    "'{\"id\":' || json_quote(id) || ',\"size\":' || size"
    " || ',\"created\":' || " + _rfc3339_sql("created")
    + " || ',\"updated\":' || " + _rfc3339_sql("updated")
    + " || CASE WHEN lock IS NULL THEN ',\"locked\":false,\"lock\":null'"
    " ELSE ',\"locked\":true,\"lock\":' || lock END"
    " || ',\"labels\":' || labels || ',\"version\":' || coalesce(head, 'null')"
    " || CASE WHEN deleted_at IS NULL THEN '' ELSE ',\"deleted_at\":' || "
    + _rfc3339_sql("deleted_at") + " END || '}' END"
)  # fmt: skip

# Rendered units kept for listings, at most this many (about 250 bytes each).
_DOCUMENT_CACHE = 250_000
# States up to this size are read whole (and kept in the head cache); larger
# ones are streamed from their blob, a slice at a time.
_STREAM_OVER = 8 * 1024 * 1024
# States up to this size are kept in the head cache as they are written (a
# copy of the upload's buffer); larger ones once they are first read.
_CACHE_ON_WRITE = 1024 * 1024
# Larger states are written through incremental blob I/O, in slices, so
# SQLite never takes its own copy of the whole state.
_WRITE_SLICES_OVER = 8 * 1024 * 1024
SLICE = 1024 * 1024

_UNIT_COLUMNS = "key, id, created, updated, size, labels, head, lock, deleted_at"
_VERSION_COLUMNS = (
    "number, serial, lineage, size, sha256, md5, created, author, surface, "
    "quarantined, note, restored_from"
)


class SqliteStateStore:
    """``StateStore`` in one SQLite database file.

    ``cache_bytes`` bounds the memory kept for recent head versions;
    ``compaction_delay`` is how long after a commit the version it replaced
    is compressed (``None``: never, for tests of the whole form).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        connections: int = 4,
        busy_timeout: float = 30.0,
        cache_bytes: int = DEFAULT_BUDGET,
        compaction_delay: float | None = 0.5,
    ):
        self._db = SqliteDatabase(path, connections=connections, busy_timeout=busy_timeout)
        self.path = self._db.path
        self._heads: ByteCache[tuple[int, int], tuple[StateVersion, bytes]] = ByteCache(
            cache_bytes, max_entry=min(_STREAM_OVER, cache_bytes // 4)
        )
        # key -> (rev, id, document): rendered units for listings.
        self._documents: dict[int, tuple[int, str]] = {}
        self._compactor = (
            Compactor(self._db, delay=compaction_delay) if compaction_delay is not None else None
        )

    @classmethod
    async def open(cls, path: str | Path, **kwargs: Any) -> SqliteStateStore:
        """Open (creating the file, its folder and the schema) and return the store."""
        store = cls(path, **kwargs)
        await store._db.open(store._create_schema)
        if store._compactor is not None:
            store._compactor.start()
        return store

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        found = conn.execute("PRAGMA user_version").fetchone()[0]
        if found > SCHEMA_VERSION:
            raise StorageUnavailable(
                f"database {self.path} has schema version {found}, newer than this "
                f"OpenTaco understands ({SCHEMA_VERSION}); upgrade OpenTaco"
            )
        execute_script(conn, _SCHEMA)
        for table, column, alter in _UPGRADES:
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                conn.execute(alter)
        execute_script(conn, _INDEXES)
        if found != SCHEMA_VERSION:
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
                    json.dumps(dict(unit.labels), separators=(",", ":")),
                ),
            )
            return unit

        return await self._db.run(op, write=True)

    async def get_unit(self, unit_id: UnitId) -> Unit:
        rows = self._db.query_inline(
            f"SELECT {_UNIT_COLUMNS} FROM units WHERE id = ? AND deleted_at IS NULL", (unit_id,)
        )
        if rows is not None:
            if not rows:
                raise UnitNotFound(unit_id)
            return _unit_of(rows[0])[1]

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

    async def update_labels(self, unit_id: UnitId, changes: Mapping[str, str | None]) -> Unit:
        def op(conn: sqlite3.Connection) -> Unit:
            key, unit = _live(conn, unit_id)
            labels = apply_label_changes(unit.labels, changes)
            # Stored compact, as create_unit does: listings splice the text in.
            conn.execute(
                "UPDATE units SET labels = ?, rev = rev + 1 WHERE key = ?",
                (json.dumps(dict(labels), separators=(",", ":")), key),
            )
            return attrs.evolve(unit, labels=labels)

        return await self._db.run(op, write=True)

    async def unit_documents(
        self,
        prefix: str = "",
        *,
        deleted: bool = False,
        after: str = "",
        limit: int | None = None,
    ) -> Sequence[tuple[UnitId, str]]:
        where = "deleted_at IS NOT NULL" if deleted else "deleted_at IS NULL"
        params: list[object] = []
        if prefix:
            where += " AND id >= ? AND id < ?"
            params += [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)]
        if after:
            where += " AND id > ?"
            params.append(after)
        tail = " LIMIT ?" if limit is not None else ""
        if limit is not None:
            params.append(limit)

        def rendered(conn: sqlite3.Connection) -> list[tuple[UnitId, str]]:
            rows = conn.execute(
                f"SELECT id, {_DOCUMENT}, {_UNIT_COLUMNS} FROM units WHERE {where} "
                f"ORDER BY id, deleted_at DESC{tail}",
                params,
            )
            return [(UnitId(r[0]), r[1] or _document_of(r[2:])) for r in rows]

        def cached(conn: sqlite3.Connection) -> list[tuple[UnitId, str]]:
            # (id, rev, key) come from the units_live_list index alone; only
            # rows changed since they were rendered are read and rendered.
            rows = conn.execute(
                f"SELECT id, rev, key FROM units WHERE {where} ORDER BY id{tail}", params
            ).fetchall()
            known = self._documents
            missing = (-1, "")
            stale = [key for _, rev, key in rows if known.get(key, missing)[0] != rev]
            if stale:
                fresh: dict[int, tuple[int, str]] = {}
                for start in range(0, len(stale), 500):
                    keys = stale[start : start + 500]
                    marks = ",".join("?" * len(keys))
                    for key, rev, doc, *unit in conn.execute(
                        f"SELECT key, rev, {_DOCUMENT}, {_UNIT_COLUMNS} FROM units "
                        f"WHERE key IN ({marks})",
                        keys,
                    ):
                        fresh[key] = (rev, doc or _document_of(tuple(unit)))
                known.update(fresh)
            # IDs as the database holds them (UnitId is a type-only alias).
            out = [(unit_id, known[key][1]) for unit_id, _, key in rows]
            if len(known) > _DOCUMENT_CACHE:
                # A bound, not a policy: the next listing refills it. A new
                # dict, so a listing running in another thread keeps its own.
                self._documents = {}
            return out

        if deleted:
            return await self._db.run(rendered, write=False)
        return await self._db.run(cached, write=False)

    async def delete_unit(self, unit_id: UnitId, at: datetime) -> None:
        def op(conn: sqlite3.Connection) -> None:
            key, unit = _live(conn, unit_id)
            if unit.lock is not None:
                raise LockConflict(unit_id, unit.lock)
            conn.execute(
                "UPDATE units SET deleted_at = ?, rev = rev + 1 WHERE key = ?",
                (encode_time(at), key),
            )

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
            conn.execute(
                "UPDATE units SET deleted_at = NULL, rev = rev + 1 WHERE key = ?", (row[0],)
            )
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
                conn.execute(
                    "UPDATE units SET lock = ?, rev = rev + 1 WHERE key = ?",
                    (_lock_json(held), key),
                )
            return held

        return await self._db.run(op, write=True)

    async def unlock(self, unit_id: UnitId, lock_id: str | None) -> LockInfo | None:
        def op(conn: sqlite3.Connection) -> LockInfo | None:
            key, unit = _live(conn, unit_id)
            locks.check_unlock(unit_id, unit.lock, lock_id)
            if unit.lock is not None:
                conn.execute("UPDATE units SET lock = NULL, rev = rev + 1 WHERE key = ?", (key,))
            return unit.lock

        return await self._db.run(op, write=True)

    # -- history -------------------------------------------------------------

    async def head(self, unit_id: UnitId) -> StateVersion | None:
        return (await self.unit_and_head(unit_id))[1]

    async def unit_and_head(self, unit_id: UnitId) -> tuple[Unit, StateVersion | None]:
        rows = self._db.query_inline(
            f"SELECT {_UNIT_COLUMNS} FROM units WHERE id = ? AND deleted_at IS NULL", (unit_id,)
        )
        if rows:
            key, unit = _unit_of(rows[0])
            if unit.head is None:
                return unit, None
            cached = self._heads.get((key, unit.head))
            if cached is not None:
                return unit, cached[0]

        def op(conn: sqlite3.Connection) -> tuple[Unit, StateVersion | None]:
            key, unit = _live(conn, unit_id)
            if unit.head is None:
                return unit, None
            cached = self._heads.get((key, unit.head))
            if cached is not None:
                return unit, cached[0]
            return unit, _fetch_version(conn, key, unit_id, unit.head)

        return await self._db.read_inline(op)

    async def commit(
        self,
        unit_id: UnitId,
        new: NewVersion,
        *,
        expected_head: int | None,
        lock_id: str | None,
        retention: RetentionPolicy,
    ) -> StateVersion:
        def op(conn: sqlite3.Connection) -> tuple[int, StateVersion]:
            key, unit = _live(conn, unit_id)
            locks.check_write(unit_id, unit.lock, lock_id)
            if not new.quarantined and unit.head != expected_head:
                raise ConcurrentUpdate(unit_id)
            (number,) = conn.execute(
                "SELECT next_number FROM units WHERE key = ?", (key,)
            ).fetchone()
            version = StateVersion.from_new(unit_id, number, new)
            blob_id = _insert_blob(conn, new.data)
            conn.execute(
                f"INSERT INTO versions (unit_key, {_VERSION_COLUMNS}, blob_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, *_version_row(version), blob_id),
            )
            if new.quarantined:
                conn.execute("UPDATE units SET next_number = ? WHERE key = ?", (number + 1, key))
            else:
                conn.execute(
                    "UPDATE units SET next_number = ?, head = ?, size = ?, updated = ?, "
                    "rev = rev + 1 WHERE key = ?",
                    (number + 1, number, version.size, encode_time(version.created), key),
                )
            head = unit.head if new.quarantined else number
            _prune(conn, key, head, retention, new.created)
            return key, version

        key, version = await self._db.run(op, write=True)
        if not new.quarantined and version.size <= _CACHE_ON_WRITE:
            # The bytes just written are the head: the next GET, and the next
            # write's check of the head, need no read.
            self._heads.put((key, version.number), (version, bytes(new.data)), version.size)
        if self._compactor is not None:
            self._compactor.enqueue(key)
        return version

    async def read_state(self, unit_id: UnitId) -> tuple[StateVersion, bytes] | None:
        found = await self._head_of(unit_id)
        if found is None or isinstance(found[1], bytes):
            return found  # type: ignore[return-value]
        return await self._read_head(unit_id, found[0])

    async def open_state(self, unit_id: UnitId) -> tuple[StateVersion, StateReader] | None:
        found = await self._head_of(unit_id)
        if found is None:
            return None
        version, data = found
        if isinstance(data, bytes):
            return version, BytesReader(data)
        if version.size <= _STREAM_OVER:
            found_now = await self._read_head(unit_id, version)
            if found_now is None:
                return None
            return found_now[0], BytesReader(found_now[1])
        return await anyio.to_thread.run_sync(self._open_stream, unit_id)

    async def _head_of(self, unit_id: UnitId) -> tuple[StateVersion, bytes | int] | None:
        """The head version and its bytes from the cache, or with its row key
        when they must be read; one indexed query on the event loop when the
        head is cached."""
        rows = self._db.query_inline(
            "SELECT key, head FROM units WHERE id = ? AND deleted_at IS NULL", (unit_id,)
        )
        if rows:
            key, head = rows[0]
            if head is None:
                return None
            cached = self._heads.get((key, head))
            if cached is not None:
                return cached

        def op(conn: sqlite3.Connection) -> tuple[StateVersion, bytes | int] | None:
            key, unit = _live(conn, unit_id)
            if unit.head is None:
                return None
            cached = self._heads.get((key, unit.head))
            if cached is not None:
                return cached
            return _fetch_version(conn, key, unit_id, unit.head), key

        return await self._db.read_inline(op)

    async def _read_head(
        self, unit_id: UnitId, seen: StateVersion
    ) -> tuple[StateVersion, bytes] | None:
        def op(conn: sqlite3.Connection) -> tuple[int, tuple[StateVersion, bytes]] | None:
            key, unit = _live(conn, unit_id)
            if unit.head is None:
                return None
            return key, _fetch_version_data(conn, key, unit_id, unit.head)

        found = await self._db.run(op, write=False)
        if found is None:
            return None
        key, (version, data) = found
        self._heads.put((key, version.number), (version, data), version.size)
        return version, data

    def _open_stream(self, unit_id: UnitId) -> tuple[StateVersion, StateReader] | None:
        """A reader of the head's blob inside a read transaction of its own
        connection: the snapshot holds until the reader is closed, so a
        commit or a prune meanwhile never changes the bytes it sends."""
        conn = self._db.connect()
        try:
            conn.execute("BEGIN")
            key, unit = _live(conn, unit_id)
            if unit.head is None:
                conn.close()
                return None
            version = _fetch_version(conn, key, unit_id, unit.head)
            blob_id, encoding = conn.execute(
                "SELECT b.id, b.encoding FROM versions v JOIN blobs b ON b.id = v.blob_id "
                "WHERE v.unit_key = ? AND v.number = ?",
                (key, unit.head),
            ).fetchone()
            if encoding != 0:
                data = blob_bytes(conn, blob_id, version.size)
                conn.close()
                return version, BytesReader(data)
            blob = conn.blobopen("blobs", "data", blob_id, readonly=True)
        except BaseException:
            conn.close()
            raise
        return version, _BlobReader(conn, blob, version.size)

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

    async def settle(self) -> None:
        """Wait until the versions superseded so far are compressed (the
        compactor runs in the background; tests and benchmarks wait here)."""
        if self._compactor is not None:
            await anyio.to_thread.run_sync(self._compactor.wait_idle)

    async def aclose(self) -> None:
        if self._compactor is not None:
            await anyio.to_thread.run_sync(self._compactor.stop)
        await self._db.aclose()


class _BlobReader:
    """A ``StateReader`` over one blob handle; each slice is read in a worker
    thread, and closing ends the read transaction and the connection."""

    def __init__(self, conn: sqlite3.Connection, blob: sqlite3.Blob, size: int) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._blob = blob
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    @property
    def whole(self) -> None:
        return None

    async def read(self, limit: int) -> bytes:
        if self._conn is None:
            return b""
        chunk = await anyio.to_thread.run_sync(self._blob.read, limit)
        if not chunk:
            await self.aclose()
        return chunk

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:

            def close() -> None:
                self._blob.close()
                conn.close()  # ends the read transaction

            await anyio.to_thread.run_sync(close)


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


def _document_of(row: tuple[Any, ...]) -> str:
    """A unit's JSON rendered in Python, for a row ``_DOCUMENT`` cannot
    render (a time stored with another offset than UTC's)."""
    return unit_document(_unit_of(row)[1])


def _insert_blob(conn: sqlite3.Connection, data: Payload) -> int:
    """Store ``data``; a large state goes in through incremental blob I/O in
    slices, so SQLite never takes a copy of the whole of it."""
    if len(data) <= _WRITE_SLICES_OVER:
        blob_id: int = conn.execute("INSERT INTO blobs (data) VALUES (?)", (data,)).lastrowid  # type: ignore[assignment]
        return blob_id
    blob_id = conn.execute("INSERT INTO blobs (data) VALUES (zeroblob(?))", (len(data),)).lastrowid  # type: ignore[assignment]
    view = memoryview(data)
    with conn.blobopen("blobs", "data", blob_id) as blob:
        for start in range(0, len(data), SLICE):
            blob.write(view[start : start + SLICE])
    return blob_id


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
    (blob_id,) = conn.execute(
        "SELECT blob_id FROM versions WHERE unit_key = ? AND number = ?", (key, number)
    ).fetchone()
    return version, blob_bytes(conn, blob_id, version.size)


def _prune(
    conn: sqlite3.Connection,
    key: int,
    head: int | None,
    policy: RetentionPolicy,
    now: datetime,
) -> None:
    """``taco_core.retention.prunable`` in SQL, over the primary key: a unit
    that keeps 100 versions prunes one per commit, and reading its whole
    history to find it cost more than the rest of the commit. The head
    counts as one kept version (it is the newest kept one: quarantined
    versions never become the head); a quarantined version goes once older
    than the grace period or beyond the newest ``max_quarantined``. The
    contract suite holds both forms to the rule."""
    keep = max(0, policy.max_versions - (1 if head is not None else 0))
    cutoff = encode_time(now - timedelta(seconds=policy.quarantine_grace_seconds))
    doomed = [
        number
        for (number,) in conn.execute(
            "SELECT number FROM versions WHERE unit_key = ? AND quarantined = 0 "
            "AND number IS NOT ? ORDER BY number DESC LIMIT -1 OFFSET ?",
            (key, head, keep),
        )
    ]
    # Quarantined versions are few (at most max_quarantined survive each
    # commit), so the rule is applied to them row by row.
    kept_quarantined = 0
    for number, created in conn.execute(
        "SELECT number, created FROM versions WHERE unit_key = ? AND quarantined = 1 "
        "AND number IS NOT ? ORDER BY number DESC",
        (key, head),
    ).fetchall():
        if created < cutoff or kept_quarantined >= policy.max_quarantined:
            doomed.append(number)
        else:
            kept_quarantined += 1
    for number in doomed:
        conn.execute(
            "DELETE FROM blobs WHERE id = (SELECT blob_id FROM versions "
            "WHERE unit_key = ? AND number = ?)",
            (key, number),
        )
        conn.execute("DELETE FROM versions WHERE unit_key = ? AND number = ?", (key, number))
