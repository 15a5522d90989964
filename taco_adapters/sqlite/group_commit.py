"""Group commit: the writes of this process that queue for SQLite's write
lock at the same moment share one transaction, and so one fsync.

Why: every write is one durable ``BEGIN IMMEDIATE`` ... ``COMMIT``, and the
commit (writing the WAL frames, then an fsync) is most of its cost; writers
that arrived while another committed used to wait for it, then each paid for
a commit of its own. Now the thread that takes the write lock commits every
write queued by then, one after the other, in one transaction:

- each write runs inside a ``SAVEPOINT`` of its own, so one that raises (a
  lock conflict, a concurrent update: the rules' refusals) is rolled back
  alone and its caller gets its exception, while the others go on;
- nobody gets an answer before the ``COMMIT`` that makes the batch durable
  has returned, so an acknowledged write is on disk exactly as before;
- the writes run in their queue order inside the one write transaction,
  each seeing the ones before it: the outcome is that of running them one
  after the other, which is what the write lock gave before;
- when SQLite itself fails inside the batch (disk full, an I/O error: it
  may have rolled the whole transaction back already) or the ``COMMIT``
  fails, nothing of the batch is kept and each write runs again in a
  transaction of its own, so each caller gets the outcome of its own write.
  A write is a function of the database alone, so running it again is safe.

A write alone in the queue runs exactly as it did before, without a savepoint.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

WriteFn = Callable[[sqlite3.Connection], Any]

# At most this many writes share a transaction: a batch holds the write lock
# for all of them, so a bound keeps the wait of the last one short.
MAX_BATCH = 16


class Write(Generic[T]):
    """One queued write: its function, then its outcome."""

    __slots__ = ("done", "error", "fn", "result")

    def __init__(self, fn: Callable[[sqlite3.Connection], T]) -> None:
        self.fn = fn
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommit:
    """The queue of one process's writes to one database file.

    ``acquire`` and ``release`` lend and take back a connection for a batch;
    ``alone(conn, fn)`` runs one write in a transaction of its own and
    returns its result (translating sqlite3 errors as the caller wants)."""

    def __init__(
        self,
        write_lock: threading.Lock,
        *,
        acquire: Callable[[], sqlite3.Connection],
        release: Callable[[sqlite3.Connection], None],
        alone: Callable[[sqlite3.Connection, WriteFn], Any],
    ) -> None:
        self._write_lock = write_lock
        self._acquire = acquire
        self._release = release
        self._alone = alone
        self._queue: list[Write[Any]] = []
        self._queue_lock = threading.Lock()

    @property
    def queued(self) -> int:
        """Writes waiting for the write lock now."""
        with self._queue_lock:
            return len(self._queue)

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Queue ``fn``, then block (in a worker thread) until it has run, in
        this thread's batch or in one another thread committed meanwhile;
        its result, or its exception raised."""
        write = Write(fn)
        with self._queue_lock:
            self._queue.append(write)
        with self._write_lock:
            while not write.done:
                with self._queue_lock:
                    batch = self._queue[:MAX_BATCH]
                    del self._queue[:MAX_BATCH]
                self._commit(batch)
        return write.outcome()

    def _commit(self, batch: list[Write[Any]]) -> None:
        conn = self._acquire()
        try:
            if len(batch) == 1 or not _together(conn, batch):
                for write in batch:
                    try:
                        write.result = self._alone(conn, write.fn)
                    except BaseException as exc:  # re-raised in the writer's own thread
                        write.error = exc
        finally:
            for write in batch:
                write.done = True
            self._release(conn)


def _together(conn: sqlite3.Connection, batch: list[Write[Any]]) -> bool:
    """Run ``batch`` in one transaction, each write in a savepoint. False,
    with nothing kept and no outcome set, when SQLite itself failed: the
    caller then runs the writes one by one."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        for write in batch:
            conn.execute("SAVEPOINT opentaco_write")
            try:
                write.result = write.fn(conn)
            except sqlite3.Error:
                raise
            except Exception as exc:  # a refusal by the rules: this write alone
                conn.execute("ROLLBACK TO opentaco_write")
                write.error = exc
            conn.execute("RELEASE opentaco_write")
        conn.execute("COMMIT")
    except sqlite3.Error:
        _abandon(conn, batch)
        return False
    except BaseException as exc:
        _abandon(conn, batch)
        for write in batch:
            write.error = exc
        raise
    return True


def _abandon(conn: sqlite3.Connection, batch: list[Write[Any]]) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
    for write in batch:
        write.result = None
        write.error = None
