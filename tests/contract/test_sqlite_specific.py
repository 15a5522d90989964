"""What only the SQLite store promises: its query plans, its upgrade of older
files, its head cache across processes, and how small it keeps history."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taco_adapters.memory import MemoryStateStore
from taco_adapters.sqlite import SqliteStateStore
from taco_adapters.sqlite import state_store as adapter
from taco_core.model import NewVersion, RetentionPolicy, Unit
from taco_core.state_doc import read_facts
from taco_core.unit_id import UnitId

T0 = datetime(2026, 1, 1, tzinfo=UTC)
U = UnitId("app/prod")
KEEP = RetentionPolicy(max_versions=1000)


def _state(serial: int, changed: int = 0) -> bytes:
    resources = [
        {"name": f"r{k}", "id": f"i-{k * 7919 + (serial if k < changed else 0):012x}"}
        for k in range(2000)
    ]
    return json.dumps(
        {"version": 4, "serial": serial, "lineage": "L", "resources": resources}, indent=2
    ).encode()


def _new(data: bytes) -> NewVersion:
    return NewVersion(facts=read_facts(data), data=data, created=T0)


async def _commit_many(store: SqliteStateStore, count: int, changed: int = 3) -> dict[int, bytes]:
    await store.create_unit(Unit(id=U, created=T0, updated=T0))
    head = None
    written = {}
    for serial in range(1, count + 1):
        data = _state(serial, changed)
        head = (
            await store.commit(U, _new(data), expected_head=head, lock_id=None, retention=KEEP)
        ).number
        written[head] = data
    return written


def _stored(path: Path) -> list[tuple[int, int, int]]:
    """(number, encoding, stored bytes) per version, oldest first."""
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT v.number, b.encoding, length(b.data) FROM versions v "
            "JOIN blobs b ON b.id = v.blob_id ORDER BY v.number"
        ).fetchall()


async def test_superseded_versions_shrink_and_the_head_stays_whole(tmp_path: Path) -> None:
    """After compaction the history of a slowly changing state costs a small
    fraction of its versions' sizes, and the head is still stored whole."""
    store = await SqliteStateStore.open(tmp_path / "t.db", compaction_delay=0.0)
    try:
        written = await _commit_many(store, 40)
        await store.settle()
        rows = _stored(store.path)
        assert rows[-1][1] == 0 and rows[-1][2] == len(written[40])
        assert {encoding for _, encoding, _ in rows[:-1]} <= {1, 2}
        whole = sum(len(d) for d in written.values())
        assert sum(size for _, _, size in rows) < 0.1 * whole
        for number, data in written.items():
            assert (await store.read_version(U, number))[1] == data
    finally:
        await store.aclose()


_V1_SCHEMA = """
CREATE TABLE units (key INTEGER PRIMARY KEY, id TEXT NOT NULL, created TEXT NOT NULL,
    updated TEXT NOT NULL, size INTEGER NOT NULL DEFAULT 0, labels TEXT NOT NULL DEFAULT '{}',
    head INTEGER, next_number INTEGER NOT NULL DEFAULT 1, lock TEXT, deleted_at TEXT);
CREATE UNIQUE INDEX units_live_id ON units (id) WHERE deleted_at IS NULL;
CREATE INDEX units_deleted ON units (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE versions (unit_key INTEGER NOT NULL, number INTEGER NOT NULL, serial INTEGER,
    lineage TEXT, size INTEGER NOT NULL, sha256 TEXT NOT NULL, md5 TEXT NOT NULL,
    created TEXT NOT NULL, author TEXT NOT NULL, surface TEXT NOT NULL,
    quarantined INTEGER NOT NULL, note TEXT NOT NULL, restored_from INTEGER,
    blob_id INTEGER NOT NULL, PRIMARY KEY (unit_key, number));
PRAGMA user_version=1;
"""


async def test_a_version_1_file_is_upgraded_and_its_history_compressed_lazily(
    tmp_path: Path,
) -> None:
    """A file an older OpenTaco wrote (whole versions, no rev column) opens,
    reads, and has its history compressed once its unit is written again."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(_V1_SCHEMA)
        conn.execute(
            "INSERT INTO units (key, id, created, updated, head, next_number) "
            "VALUES (1, ?, ?, ?, 5, 6)",
            (U, T0.isoformat(timespec="microseconds"), T0.isoformat(timespec="microseconds")),
        )
        for number in range(1, 6):
            data = _state(number, 3)
            facts = read_facts(data)
            conn.execute("INSERT INTO blobs (id, data) VALUES (?, ?)", (number, data))
            conn.execute(
                "INSERT INTO versions VALUES (1, ?, ?, 'L', ?, ?, ?, ?, '', 'api', 0, '', "
                "NULL, ?)",
                (number, number, facts.size, facts.sha256, facts.md5,
                 T0.isoformat(timespec="microseconds"), number),
            )  # fmt: skip
    store = await SqliteStateStore.open(path, compaction_delay=0.0)
    try:
        assert (await store.read_version(U, 2))[1] == _state(2, 3)
        assert [u["id"] for u in map(json.loads, (d for _, d in await store.unit_documents()))] == [
            U
        ]
        data = _state(6, 3)
        await store.commit(U, _new(data), expected_head=5, lock_id=None, retention=KEEP)
        await store.settle()
        rows = _stored(path)
        assert [encoding for _, encoding, _ in rows] == [2, 2, 2, 2, 2, 0]
        for number in range(1, 6):
            assert (await store.read_version(U, number))[1] == _state(number, 3)
    finally:
        await store.aclose()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == adapter.SCHEMA_VERSION


async def test_a_cached_head_is_never_served_after_another_process_wrote(tmp_path: Path) -> None:
    """Two stores on one file (two processes): a head one of them cached is
    replaced as soon as the other commits."""
    path = tmp_path / "shared.db"
    a = await SqliteStateStore.open(path)
    b = await SqliteStateStore.open(path)
    try:
        await a.create_unit(Unit(id=U, created=T0, updated=T0))
        await a.commit(U, _new(_state(1)), expected_head=None, lock_id=None, retention=KEEP)
        assert (await a.read_state(U)) == (await b.read_state(U))
        second = _state(2, 5)
        await b.commit(U, _new(second), expected_head=1, lock_id=None, retention=KEEP)
        found = await a.read_state(U)
        assert found is not None and found[1] == second
        opened = await a.open_state(U)
        assert opened is not None and opened[1].whole == second
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_large_state_is_written_and_streamed_in_slices(tmp_path: Path) -> None:
    """A state over the slicing threshold goes in through blob I/O and comes
    out through a streaming reader, byte for byte."""
    store = await SqliteStateStore.open(tmp_path / "big.db")
    try:
        await store.create_unit(Unit(id=U, created=T0, updated=T0))
        pad = "x" * (adapter._STREAM_OVER + 3 * adapter.SLICE + 17)
        data = json.dumps({"version": 4, "serial": 1, "lineage": "L", "pad": pad}).encode()
        await store.commit(U, _new(data), expected_head=None, lock_id=None, retention=KEEP)
        found = await store.open_state(U)
        assert found is not None
        reader = found[1]
        assert reader.whole is None
        parts = []
        while chunk := await reader.read(adapter.SLICE):
            parts.append(chunk)
        await reader.aclose()
        assert b"".join(parts) == data
        assert (await store.read_state(U)) == (found[0], data)
    finally:
        await store.aclose()


HOT_QUERIES = [
    ("SELECT key, head FROM units WHERE id = ? AND deleted_at IS NULL", ("a",)),
    (f"SELECT {adapter._UNIT_COLUMNS} FROM units WHERE id = ? AND deleted_at IS NULL", ("a",)),
    (
        f"SELECT {adapter._VERSION_COLUMNS} FROM versions WHERE unit_key = ? AND number = ?",
        (1, 1),
    ),
    ("SELECT blob_id FROM versions WHERE unit_key = ? AND number = ?", (1, 1)),
    ("SELECT data, encoding, base FROM blobs WHERE id = ?", (1,)),
    (
        "SELECT id, rev, key FROM units WHERE deleted_at IS NULL AND id >= ? AND id < ? "
        "ORDER BY id",
        ("a/", "a0"),
    ),
    (
        "SELECT id, rev, key FROM units WHERE deleted_at IS NULL AND id > ? ORDER BY id LIMIT ?",
        ("a", 10),
    ),
    ("SELECT COUNT(*), COALESCE(SUM(quarantined), 0) FROM versions WHERE unit_key = ?", (1,)),
    (
        f"SELECT {adapter._VERSION_COLUMNS} FROM versions WHERE unit_key = ? "
        "ORDER BY number DESC LIMIT ? OFFSET ?",
        (1, 10, 0),
    ),
]


@pytest.mark.parametrize(("sql", "params"), HOT_QUERIES)
async def test_hot_queries_use_an_index(
    tmp_path: Path, sql: str, params: tuple[object, ...]
) -> None:
    """Every query on a hot path searches an index: none scans a table, so
    their cost does not grow with the number of units (1,000,000 included)."""
    store = await SqliteStateStore.open(tmp_path / "plan.db")
    await store.aclose()
    with sqlite3.connect(tmp_path / "plan.db") as conn:
        plan = " / ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    assert "SCAN units" not in plan.replace("SCAN units USING COVERING INDEX", "")
    assert "SCAN versions" not in plan
    assert "SCAN blobs" not in plan
    assert "TEMP B-TREE" not in plan
    if sql.startswith("SELECT id, rev, key"):
        assert "COVERING INDEX units_live_list" in plan


@settings(max_examples=25, deadline=None)
@given(
    writes=st.lists(st.tuples(st.booleans(), st.integers(0, 30)), min_size=1, max_size=14),
    max_versions=st.integers(0, 4),
    max_quarantined=st.integers(0, 3),
)
def test_pruning_in_sql_keeps_what_the_retention_rule_keeps(
    tmp_path_factory: pytest.TempPathFactory,
    writes: list[tuple[bool, int]],
    max_versions: int,
    max_quarantined: int,
) -> None:
    """The same writes (some refused into quarantine, at various ages) leave
    SQLite with exactly the versions the memory store keeps, which applies
    ``taco_core.retention.prunable`` itself."""
    policy = RetentionPolicy(
        max_versions=max_versions,
        quarantine_grace_seconds=10 * 86400,
        max_quarantined=max_quarantined,
    )
    path = tmp_path_factory.mktemp("prune") / "p.db"

    async def run() -> tuple[list[int], list[int]]:
        sqlite = await SqliteStateStore.open(path, compaction_delay=None)
        memory = MemoryStateStore()
        try:
            kept: list[list[int]] = []
            for store in (sqlite, memory):
                await store.create_unit(Unit(id=U, created=T0, updated=T0))
                head = None
                for serial, (quarantined, day) in enumerate(writes, 1):
                    data = _state(serial)
                    version = NewVersion(
                        facts=read_facts(data), data=data, created=T0 + timedelta(days=day),
                        quarantined=quarantined,
                    )  # fmt: skip
                    done = await store.commit(
                        U, version, expected_head=head, lock_id=None, retention=policy
                    )
                    head = head if quarantined else done.number
                kept.append([v.number for v in await store.list_versions(U)])
            return kept[0], kept[1]
        finally:
            await sqlite.aclose()

    in_sqlite, in_memory = anyio.run(run)
    assert in_sqlite == in_memory
