"""One SQLite database file as the SQLite adapters use it: a pool of
connections, each call one transaction in a worker thread, sqlite3 errors
translated at this edge.

Why it is built this way: a write runs inside one ``BEGIN IMMEDIATE``
transaction, which SQLite grants to a single connection at a time across
every process sharing the file, so check-then-write rules run inside it hold
between processes (writes of this process that queue at the same moment share
the transaction and its fsync: ``group_commit``). WAL with
``synchronous=FULL`` makes every acknowledged commit survive a crash of the
process or the machine. Blocking SQLite calls run in
worker threads (``anyio.to_thread``) on a small pool of connections, so the
event loop never waits on disk or on another process's lock.

One exception, for the hottest reads: ``read_inline`` runs a read of a few
indexed rows (a unit's row, a version's metadata) on the calling thread, on
a connection of its own whose busy timeout is zero. Such a read takes
microseconds, less than the hand-off to a worker thread it spares; if SQLite
would have to wait for anything it answers busy at once, and the read goes
to a worker thread like any other.

The file holds every state and the key that signs access tokens, so it is
private from its first byte: a missing folder is created 0700 and the file
0600 before SQLite opens it, and SQLite gives its ``-wal`` and ``-shm``
files the database file's permissions.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from taco_adapters.sqlite.group_commit import GroupCommit
from taco_core.errors import StorageUnavailable

T = TypeVar("T")


@contextlib.contextmanager
def _vendor_errors() -> Iterator[None]:
    """Translate sqlite3 errors at the edge so no vendor type reaches the core."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StorageUnavailable(f"SQLite error: {exc}") from exc


def execute_script(conn: sqlite3.Connection, script: str) -> None:
    """Run the ``;``-separated statements of ``script`` (DDL without string
    literals holding ``;``) inside the caller's transaction. Python 3.11's
    ``executescript`` would COMMIT that transaction first, so a schema check
    and the tables it guards would no longer be one atomic step."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


class SqliteDatabase:
    """A pool of ``connections`` connections to the file at ``path``.

    Each store that uses the file owns one: its tables, its queries and its
    rules stay in the store, the plumbing here.
    """

    def __init__(self, path: str | Path, *, connections: int, busy_timeout: float) -> None:
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        self._size = connections
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._limiter = anyio.CapacityLimiter(connections)
        # Writers of this process queue here instead of in SQLite's busy handler,
        # which backs off in 1-100 ms sleeps and made concurrent writers slower
        # than one: every store on the file (states, audit trail, credentials
        # ...) shares the one lock. The busy timeout still arbitrates between
        # processes.
        self.write_lock = write_lock_of(self.path)
        # Writers that queue for it meanwhile share the next transaction.
        self._group = GroupCommit(
            self.write_lock, acquire=self._pool.get, release=self._pool.put, alone=_write_alone
        )
        self._inline: sqlite3.Connection | None = None
        self._inline_lock = threading.Lock()

    async def open(self, schema: Callable[[sqlite3.Connection], None]) -> None:
        """Create the file and its folder if missing, connect, and run
        ``schema`` (which creates the caller's tables and may refuse the file
        with ``StorageUnavailable``) in one write transaction. Whatever was
        opened is closed again when this fails."""
        try:
            await anyio.to_thread.run_sync(self._connect_all)
            await self.run(schema, write=True)
        except BaseException:
            await self.aclose()
            raise

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        """Run ``fn`` in one transaction in a worker thread and return its
        result: ``BEGIN IMMEDIATE`` for a ``write`` (the database's write lock
        is held from the start, so what ``fn`` reads cannot change before it
        writes), plain ``BEGIN`` for a read. Any exception from ``fn`` rolls
        its writes back and propagates; sqlite3 errors become
        ``StorageUnavailable``. Writes queued at the same moment share one
        transaction (``taco_adapters.sqlite.group_commit``)."""
        if write:
            return await anyio.to_thread.run_sync(self._group.run, fn, limiter=self._limiter)

        def work() -> T:
            # The limiter admits as many threads as there are connections, so
            # the pool always has one to hand out.
            conn = self._pool.get()
            try:
                return _transaction(conn, fn, write=False)
            finally:
                self._pool.put(conn)

        return await anyio.to_thread.run_sync(work, limiter=self._limiter)

    async def read_inline(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn``, a read of a few indexed rows, in one read transaction
        on the calling thread (see the module docstring); in a worker thread
        when SQLite would have to wait. Errors as in ``run``."""
        conn = self._inline
        # One thread at a time (another event loop may share the store).
        if conn is not None and self._inline_lock.acquire(blocking=False):
            try:
                conn.execute("BEGIN")
                try:
                    with _vendor_errors():
                        return fn(conn)
                finally:
                    conn.execute("COMMIT")
            except StorageUnavailable as exc:
                if not _is_busy(exc.__cause__):
                    raise
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise StorageUnavailable(f"SQLite error: {exc}") from exc
            finally:
                self._inline_lock.release()
        return await self.run(fn, write=False)

    def query_inline(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]] | None:
        """The rows of one indexed ``SELECT``, read on the calling thread in
        a transaction of its own (see the module docstring); ``None`` when
        SQLite would have to wait, and the caller takes the worker-thread
        road. Errors as in ``run``."""
        conn = self._inline
        if conn is None or not self._inline_lock.acquire(blocking=False):
            return None
        try:
            # fetchall: the statement is done, so its read transaction ends.
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                return None
            raise StorageUnavailable(f"SQLite error: {exc}") from exc
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"SQLite error: {exc}") from exc
        finally:
            self._inline_lock.release()

    def connect(self) -> sqlite3.Connection:
        """A connection of the caller's own, outside the pool, with the same
        settings (a long read, such as streaming a large state, holds one
        for its duration without starving the pool). The caller closes it."""
        with _vendor_errors():
            conn = self._connect()
        self._all.remove(conn)
        return conn

    async def aclose(self) -> None:
        """Close every connection."""

        def close_all() -> None:
            for conn in self._all:
                conn.close()
            self._all.clear()
            self._inline = None

        await anyio.to_thread.run_sync(close_all)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are begun explicitly in ``run``.
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        self._all.append(conn)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _connect_all(self) -> None:
        try:
            create_private(self.path)
        except OSError as exc:
            raise StorageUnavailable(
                f"cannot create the SQLite database {self.path}: {exc.strerror or exc}"
            ) from exc
        try:
            first = self._connect()
            # WAL is a property of the file: setting it once is enough.
            first.execute("PRAGMA journal_mode=WAL")
            self._pool.put(first)
            for _ in range(self._size - 1):
                self._pool.put(self._connect())
            inline = self._connect()
            # Never wait on the event loop: busy answers at once (read_inline).
            inline.execute("PRAGMA busy_timeout=0")
            inline.execute("PRAGMA query_only=1")
            self._inline = inline
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"cannot open the SQLite database {self.path}: {exc}") from exc


_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def write_lock_of(path: Path) -> threading.Lock:
    """This process's write lock of the database file at ``path`` (one per
    file, whatever path names it)."""
    key = os.path.realpath(path)
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.Lock())


def _transaction(
    conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], *, write: bool
) -> T:
    """``fn`` in a transaction of its own on ``conn``: rolled back if it raises."""
    with _vendor_errors():
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result


def _write_alone(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    return _transaction(conn, fn, write=True)


def _is_busy(exc: BaseException | None) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc)
    )


def create_private(path: Path) -> None:
    """Create ``path``'s missing folders (0700) and the empty file (0600) if it
    does not exist; an existing one is left as it is."""
    missing: list[Path] = []
    folder = path.parent
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            folder.mkdir(mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def companion_files(path: Path) -> list[Path]:
    """The database file and the files SQLite keeps beside it (WAL, shared memory)."""
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
