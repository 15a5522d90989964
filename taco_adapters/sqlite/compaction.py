"""Compressing superseded versions in the background, and reading them back.

A commit stores the new head whole and leaves the version it replaced whole
too; a thread of this process then re-encodes that version (and any other
whole, superseded version of the unit: a file written by an older OpenTaco
is migrated this way, unit by unit, as units are written) as a zstd delta
against the next newer version, or as a standalone zstd frame
(``taco_adapters.compression`` says which and why). The commit itself costs
nothing more. The compactor waits for a pause in the writes (``delay``
without a commit, or at most ``max_delay`` after the first one waiting), so
that compressing competes as little as possible with the writes it follows
for the CPU, and one write transaction compacts a whole batch.

Why it is safe: version rows never change, and the compactor only ever
replaces a blob by an encoding of the very same bytes. It computes the
encodings from a read snapshot without holding the write lock, then, in one
``BEGIN IMMEDIATE`` transaction, replaces each blob only if it is still the
whole blob of that version (same SHA-256) and its base still the blob of the
version it was computed against; anything that moved is left for later. A
delta's base is always newer than the version, and retention only ever
prunes the oldest versions, so a base outlives every version that needs it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import TYPE_CHECKING

from taco_adapters import compression
from taco_core.errors import StorageUnavailable

if TYPE_CHECKING:
    from taco_adapters.sqlite.database import SqliteDatabase

_log = logging.getLogger(__name__)

# blobs.encoding
WHOLE = 0
ZSTD = 1  # a standalone zstd frame
DELTA = 2  # a zstd frame with blob ``base``'s bytes as its dictionary

# Versions re-encoded per write transaction.
_BATCH = 32


def blob_bytes(conn: sqlite3.Connection, blob_id: int, size: int) -> bytes:
    """The ``size`` bytes of a version's blob, whatever its encoding (a
    delta is decoded from its chain of newer versions, at most a keyframe
    away; every frame records its own size)."""
    chain: list[bytes] = []
    current: int | None = blob_id
    while True:
        row = conn.execute(
            "SELECT data, encoding, base FROM blobs WHERE id = ?", (current,)
        ).fetchone()
        if row is None:
            raise StorageUnavailable(
                f"blob {current} of the history is missing (needed to read blob {blob_id})"
            )
        data, encoding, base = row
        if encoding == WHOLE:
            out = bytes(data)
            break
        if encoding == ZSTD:
            out = compression.decompress(data)
            break
        chain.append(data)
        current = base
    for frame in reversed(chain):
        out = compression.decompress_delta(frame, out)
    if len(out) != size:
        raise StorageUnavailable(f"blob {blob_id} decodes to {len(out)} bytes, not {size}")
    return out


def _compress_blob(conn: sqlite3.Connection, blob_id: int, size: int) -> bytes:
    """A standalone frame of a whole blob, read a slice at a time (a state
    too large for a delta is never held whole here)."""
    out = bytearray()
    zstd = compression.compressor(size)
    with conn.blobopen("blobs", "data", blob_id, readonly=True) as blob:
        while chunk := blob.read(1024 * 1024):
            out += zstd.compress(chunk)
    out += zstd.flush()
    return bytes(out)


class Compactor:
    """The background thread that compresses superseded versions of the
    units this process wrote to (``enqueue``)."""

    def __init__(self, db: SqliteDatabase, *, delay: float, max_delay: float = 30.0) -> None:
        self._db = db
        self._delay = delay
        self._max_delay = max(delay, max_delay)
        self._last = 0.0
        self._pending: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._loop, name="taco-compactor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def enqueue(self, unit_key: int) -> None:
        """Compact the unit's superseded versions soon."""
        with self._lock:
            self._pending.add(unit_key)
            self._last = time.monotonic()
            self._idle.clear()
        self._wake.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is pending (tests and benchmarks)."""
        return self._idle.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stopping.is_set():
                self._wake.wait()
                if not self._pause():
                    return
                with self._lock:
                    keys, self._pending = self._pending, set()
                    self._wake.clear()
                if conn is None:
                    conn = self._db.connect()
                try:
                    while compact_units(conn, self._db.write_lock, sorted(keys)):
                        if self._stopping.is_set():
                            return
                except (sqlite3.Error, StorageUnavailable) as exc:
                    # The versions stay whole, which is correct, only larger.
                    _log.warning("compacting the history failed: %s", exc)
                with self._lock:
                    if not self._pending:
                        self._idle.set()
        finally:
            self._idle.set()
            if conn is not None:
                conn.close()

    def _pause(self) -> bool:
        """Wait for ``delay`` without a commit (at most ``max_delay``);
        False when stopping."""
        first = time.monotonic()
        while True:
            with self._lock:
                quiet = time.monotonic() - self._last
            waited = time.monotonic() - first
            if quiet >= self._delay or waited >= self._max_delay:
                return True
            if self._stopping.wait(min(self._delay - quiet, self._max_delay - waited)):
                return False


def compact_units(conn: sqlite3.Connection, write_lock: threading.Lock, keys: list[int]) -> bool:
    """Re-encode up to a batch of the units' whole, superseded versions in
    one write transaction; True when there may be more."""
    plans: list[tuple[int, _Plan]] = []
    conn.execute("BEGIN")
    try:
        for key in keys:
            plans += [(key, plan) for plan in _plan(conn, key, _BATCH - len(plans))]
            if len(plans) >= _BATCH:
                break
    finally:
        conn.execute("COMMIT")
    if not plans:
        return False
    with write_lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for key, plan in plans:
                _apply(conn, key, plan)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return len(plans) >= _BATCH


# (blob id, sha256, encoded bytes, encoding, base blob id, base number, base sha256)
_Plan = tuple[int, str, bytes, int, int | None, int | None, str | None]


def _plan(conn: sqlite3.Connection, key: int, limit: int) -> list[_Plan]:
    """Encodings for the unit's whole, superseded versions, newest first,
    computed in the caller's read transaction."""
    row = conn.execute("SELECT head FROM units WHERE key = ?", (key,)).fetchone()
    if row is None or row[0] is None:
        return []
    head = row[0]
    rows = conn.execute(
        "SELECT v.number, v.blob_id, v.sha256, v.size, v.quarantined FROM versions v "
        "JOIN blobs b ON b.id = v.blob_id "
        "WHERE v.unit_key = ? AND v.number != ? AND b.encoding = 0 "
        "ORDER BY v.number DESC LIMIT ?",
        (key, head, limit),
    ).fetchall()
    plans: list[_Plan] = []
    for number, blob_id, sha256, size, quarantined in rows:
        if size > compression.DELTA_LIMIT:
            plans.append(
                (blob_id, sha256, _compress_blob(conn, blob_id, size), ZSTD, None, None, None)
            )
            continue
        data = blob_bytes(conn, blob_id, size)
        base = None
        if not quarantined and number % compression.KEYFRAME:
            base = conn.execute(
                "SELECT number, blob_id, sha256, size FROM versions "
                "WHERE unit_key = ? AND number > ? AND quarantined = 0 "
                "ORDER BY number LIMIT 1",
                (key, number),
            ).fetchone()
        if base is not None and base[3] <= compression.DELTA_LIMIT:
            base_number, base_blob, base_sha, base_size = base
            encoded = compression.compress_delta(data, blob_bytes(conn, base_blob, base_size))
            plans.append((blob_id, sha256, encoded, DELTA, base_blob, base_number, base_sha))
        else:
            plans.append((blob_id, sha256, compression.compress(data), ZSTD, None, None, None))
    return plans


def _apply(conn: sqlite3.Connection, key: int, plan: _Plan) -> None:
    blob_id, sha256, encoded, encoding, base_blob, base_number, base_sha = plan
    still = conn.execute(
        "SELECT 1 FROM versions v JOIN blobs b ON b.id = v.blob_id "
        "WHERE v.unit_key = ? AND v.blob_id = ? AND v.sha256 = ? AND b.encoding = 0",
        (key, blob_id, sha256),
    ).fetchone()
    if still is None:
        return
    if base_blob is not None:
        base_still = conn.execute(
            "SELECT 1 FROM versions WHERE unit_key = ? AND number = ? AND blob_id = ? "
            "AND sha256 = ?",
            (key, base_number, base_blob, base_sha),
        ).fetchone()
        if base_still is None:
            return
    conn.execute(
        "UPDATE blobs SET data = ?, encoding = ?, base = ? WHERE id = ?",
        (encoded, encoding, base_blob, blob_id),
    )
