"""Group commit (``taco_adapters.sqlite.group_commit``): writes queued at the
same moment share one transaction, and each still gets its own outcome."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from taco_adapters.sqlite.database import SqliteDatabase
from taco_adapters.sqlite.group_commit import GroupCommit
from taco_core.errors import StorageUnavailable


class Rig:
    """A GroupCommit over one real SQLite file, with every statement traced."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
        self.statements: list[str] = []
        self.conn.set_trace_callback(self.statements.append)
        self.lock = threading.Lock()
        self.group = GroupCommit(
            self.lock, acquire=lambda: self.conn, release=lambda conn: None, alone=self._alone
        )

    def _alone(
        self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], object]
    ) -> object:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def rows(self) -> dict[int, str]:
        return dict(self.conn.execute("SELECT k, v FROM t").fetchall())

    def concurrently(
        self, fns: list[Callable[[sqlite3.Connection], object]]
    ) -> list[object | BaseException]:
        """Queue every ``fn`` while the write lock is held, then let them run."""
        outcomes: list[object | BaseException] = [None] * len(fns)

        def writer(i: int) -> None:
            try:
                outcomes[i] = self.group.run(fns[i])
            except BaseException as exc:
                outcomes[i] = exc

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(len(fns))]
        with self.lock:
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 10
            while self.group.queued < len(fns):
                assert time.monotonic() < deadline, "the writers never queued"
                time.sleep(0.001)
            self.statements.clear()
        for thread in threads:
            thread.join(10)
        return outcomes


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path / "g.db")
    yield rig
    rig.conn.close()


def _insert(k: int) -> Callable[[sqlite3.Connection], object]:
    def fn(conn: sqlite3.Connection) -> object:
        conn.execute("INSERT INTO t (k, v) VALUES (?, ?)", (k, f"v{k}"))
        return k

    return fn


def test_writes_queued_together_share_one_commit(rig: Rig) -> None:
    """Five writers queued behind the lock are committed by one COMMIT, each in a savepoint."""
    outcomes = rig.concurrently([_insert(k) for k in range(5)])
    assert outcomes == [0, 1, 2, 3, 4]
    assert rig.rows() == {k: f"v{k}" for k in range(5)}
    assert rig.statements.count("COMMIT") == 1
    assert rig.statements.count("SAVEPOINT opentaco_write") == 5


def test_a_refused_write_is_rolled_back_alone(rig: Rig) -> None:
    """A write that raises keeps nothing and gets its exception; the batch's others land."""

    def refused(conn: sqlite3.Connection) -> object:
        conn.execute("INSERT INTO t (k, v) VALUES (99, 'never')")
        raise LookupError("refused by a rule")

    outcomes = rig.concurrently([_insert(1), refused, _insert(2)])
    assert outcomes[0] == 1 and outcomes[2] == 2
    assert isinstance(outcomes[1], LookupError)
    assert rig.rows() == {1: "v1", 2: "v2"}


def test_each_write_sees_the_ones_before_it(rig: Rig) -> None:
    """Inside a batch the writes run in queue order, as if one after the other."""

    def conflicting(conn: sqlite3.Connection) -> object:
        # The same key as the first write: a serial run refuses it.
        conn.execute("INSERT INTO t (k, v) VALUES (1, 'second')")
        return "inserted"

    outcomes = rig.concurrently([_insert(1), conflicting])
    assert outcomes[0] == 1
    # sqlite3's IntegrityError is SQLite's own failure: each write re-runs alone.
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    assert rig.rows() == {1: "v1"}


def test_a_storage_failure_reruns_each_write_alone(rig: Rig) -> None:
    """When SQLite fails inside the batch nothing of it is kept; each write then
    runs in a transaction of its own and gets its own outcome."""
    calls = 0

    def flaky(conn: sqlite3.Connection) -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise sqlite3.OperationalError("disk I/O error")
        conn.execute("INSERT INTO t (k, v) VALUES (7, 'v7')")
        return 7

    outcomes = rig.concurrently([_insert(1), flaky, _insert(2)])
    assert outcomes == [1, 7, 2]
    assert calls == 2
    assert rig.rows() == {1: "v1", 2: "v2", 7: "v7"}
    assert rig.statements.count("ROLLBACK") == 1
    assert rig.statements.count("COMMIT") == 3


def test_a_lone_write_uses_no_savepoint(rig: Rig) -> None:
    """A write with nobody queued beside it runs exactly as before: one plain transaction."""
    rig.statements.clear()
    assert rig.group.run(_insert(3)) == 3
    assert "SAVEPOINT opentaco_write" not in rig.statements
    assert rig.statements.count("COMMIT") == 1


async def test_the_database_translates_errors_of_grouped_writes(tmp_path: Path) -> None:
    """Through SqliteDatabase, concurrent writes all land and a failing one is
    StorageUnavailable, whatever batch it shared."""
    db = SqliteDatabase(tmp_path / "d.db", connections=4, busy_timeout=5)

    def schema(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")

    await db.open(schema)
    outcomes: dict[int, object] = {}

    async def write(k: int) -> None:
        def fn(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO t (k) VALUES (?)", (k % 20,))
            return k

        try:
            outcomes[k] = await db.run(fn, write=True)
        except StorageUnavailable as exc:
            outcomes[k] = exc

    try:
        async with anyio.create_task_group() as tg:
            for k in range(40):
                tg.start_soon(write, k)
        landed = [k for k, outcome in outcomes.items() if outcome == k]
        refused = [k for k, outcome in outcomes.items() if isinstance(outcome, StorageUnavailable)]
        # Keys 0-19 are each inserted twice: exactly one of each pair lands.
        assert len(outcomes) == 40
        assert sorted(k % 20 for k in landed) == list(range(20))
        assert len(refused) == 20

        def count(conn: sqlite3.Connection) -> int:
            found: int = conn.execute("SELECT count(*) FROM t").fetchone()[0]
            return found

        assert await db.run(count, write=False) == 20
    finally:
        await db.aclose()


def test_every_database_object_on_one_file_shares_its_write_lock(tmp_path: Path) -> None:
    """Stores on the same file (states, audit trail ...) queue on one lock in
    this process, whatever path names the file; another file has its own."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "sub")
    states = SqliteDatabase(tmp_path / "sub" / "t.db", connections=1, busy_timeout=1)
    audit = SqliteDatabase(tmp_path / "link" / "t.db", connections=1, busy_timeout=1)
    other = SqliteDatabase(tmp_path / "sub" / "u.db", connections=1, busy_timeout=1)
    assert states.write_lock is audit.write_lock
    assert other.write_lock is not states.write_lock
