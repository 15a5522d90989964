"""The storage floor: raw SQLite transactions moving the same bytes.

Same file system, same durability as ``taco_adapters.sqlite``: WAL with
``synchronous=FULL``, one ``BEGIN IMMEDIATE`` transaction per write, so each
acknowledged write costs the same fsync of the WAL. No OpenTaco code runs.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.stats import Summary, summarize


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    conn.execute("CREATE TABLE IF NOT EXISTS locks (id TEXT PRIMARY KEY, lock TEXT)")
    conn.execute("INSERT OR IGNORE INTO locks (id) VALUES ('unit')")
    return conn


def _timed(fn: Callable[[int], None], count: int, max_seconds: float) -> Summary:
    latencies: list[float] = []
    start = time.perf_counter()
    for index in range(count):
        if time.perf_counter() - start >= max_seconds:
            break
        began = time.perf_counter()
        fn(index)
        latencies.append(time.perf_counter() - began)
    return summarize(latencies, time.perf_counter() - start)


def write(conn: sqlite3.Connection, body: bytes, count: int, max_seconds: float) -> Summary:
    """One durable transaction inserting ``body``, ``count`` times."""

    def once(_: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO blobs (data) VALUES (?)", (body,))
        conn.execute("COMMIT")

    summary = _timed(once, count, max_seconds)
    conn.execute("DELETE FROM blobs")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return summary


def read(conn: sqlite3.Connection, body: bytes, count: int, max_seconds: float) -> Summary:
    """One read transaction returning ``body`` as ``bytes``, ``count`` times."""
    conn.execute("BEGIN IMMEDIATE")
    (rowid,) = conn.execute("INSERT INTO blobs (data) VALUES (?) RETURNING id", (body,)).fetchone()
    conn.execute("COMMIT")

    def once(_: int) -> None:
        conn.execute("BEGIN")
        conn.execute("SELECT data FROM blobs WHERE id = ?", (rowid,)).fetchone()
        conn.execute("COMMIT")

    summary = _timed(once, count, max_seconds)
    conn.execute("DELETE FROM blobs")
    return summary


def cycle(conn: sqlite3.Connection, body: bytes, count: int, max_seconds: float) -> Summary:
    """The durable writes of one apply: set the lock, insert the state, clear
    the lock, each in its own transaction as the backend protocol requires."""

    def once(index: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE locks SET lock = ? WHERE id = 'unit'", (f"lock-{index}",))
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO blobs (data) VALUES (?)", (body,))
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE locks SET lock = NULL WHERE id = 'unit'")
        conn.execute("COMMIT")

    summary = _timed(once, count, max_seconds)
    conn.execute("DELETE FROM blobs")
    return summary


def fsync_floor(directory: Path, count: int = 200) -> Summary:
    """One 4 KiB write + fsync of a file: the disk's durable-write latency."""
    path = directory / "fsync.probe"
    with path.open("wb") as fh:

        def once(_: int) -> None:
            fh.write(b"\0" * 4096)
            fh.flush()
            os.fsync(fh.fileno())

        summary = _timed(once, count, 5.0)
    path.unlink()
    return summary
