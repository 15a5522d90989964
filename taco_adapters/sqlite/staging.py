"""``UploadStaging`` in the SQLite file that holds the states.

Parts are BLOBs in our own tables (``s3_uploads``, ``s3_parts``), created if
missing beside the state store's, so every process sharing the file sees
them. A part refers to its upload with a cascading foreign key: ending an
upload drops its parts in the same transaction, and a part can never be
staged for an upload that is gone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from taco_adapters.sqlite.database import SqliteDatabase, execute_script
from taco_adapters.timestamps import decode_time, encode_time
from taco_core.model import StagedUpload

_SCHEMA = """
CREATE TABLE IF NOT EXISTS s3_uploads (
    id          TEXT PRIMARY KEY,
    target      TEXT NOT NULL,
    owner       TEXT NOT NULL,
    started     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS s3_parts (
    upload_id   TEXT NOT NULL REFERENCES s3_uploads (id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    data        BLOB NOT NULL,
    PRIMARY KEY (upload_id, number)
);
"""


def _utc(value: datetime) -> str:
    return encode_time(value.astimezone(UTC))


def _create_tables(conn: sqlite3.Connection) -> None:
    execute_script(conn, _SCHEMA)


class SqliteUploadStaging:
    """Staged multipart uploads in the service's SQLite database file."""

    def __init__(self, path: str | Path, *, connections: int = 2, busy_timeout: float = 30.0):
        self._db = SqliteDatabase(path, connections=connections, busy_timeout=busy_timeout)
        self.path = self._db.path

    @classmethod
    async def open(cls, path: str | Path, **kwargs: Any) -> SqliteUploadStaging:
        """Open the file (creating it, its folder and our tables if missing)."""
        store = cls(path, **kwargs)
        await store._db.open(_create_tables)
        return store

    async def aclose(self) -> None:
        await self._db.aclose()

    async def begin_upload(self, upload: StagedUpload) -> None:
        await self._db.run(
            lambda c: c.execute(
                "INSERT INTO s3_uploads (id, target, owner, started) VALUES (?, ?, ?, ?)",
                (
                    upload.id,
                    upload.target,
                    upload.owner,
                    encode_time(upload.started.astimezone(UTC)),
                ),
            ),
            write=True,
        )

    async def get_upload(self, upload_id: str) -> StagedUpload | None:
        def op(conn: sqlite3.Connection) -> StagedUpload | None:
            row = conn.execute(
                "SELECT id, target, owner, started FROM s3_uploads WHERE id = ?", (upload_id,)
            ).fetchone()
            if row is None:
                return None
            return StagedUpload(id=row[0], target=row[1], owner=row[2], started=decode_time(row[3]))

        return await self._db.run(op, write=False)

    async def put_part(self, upload_id: str, number: int, data: bytes) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            if not conn.execute("SELECT 1 FROM s3_uploads WHERE id = ?", (upload_id,)).fetchone():
                return False
            conn.execute(
                "INSERT OR REPLACE INTO s3_parts (upload_id, number, data) VALUES (?, ?, ?)",
                (upload_id, number, data),
            )
            return True

        return await self._db.run(op, write=True)

    async def part_sizes(self, upload_id: str) -> Mapping[int, int]:
        def op(conn: sqlite3.Connection) -> dict[int, int]:
            rows = conn.execute(
                "SELECT number, length(data) FROM s3_parts WHERE upload_id = ? ORDER BY number",
                (upload_id,),
            )
            return {int(number): int(size) for number, size in rows}

        return await self._db.run(op, write=False)

    async def read_part(self, upload_id: str, number: int) -> bytes | None:
        def op(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(
                "SELECT data FROM s3_parts WHERE upload_id = ? AND number = ?",
                (upload_id, number),
            ).fetchone()
            return bytes(row[0]) if row is not None else None

        return await self._db.run(op, write=False)

    async def end_upload(self, upload_id: str) -> None:
        await self._db.run(
            lambda c: c.execute("DELETE FROM s3_uploads WHERE id = ?", (upload_id,)), write=True
        )

    async def purge_uploads(self, started_before: datetime) -> int:
        def op(conn: sqlite3.Connection) -> int:
            # Times are stored as ISO text in UTC, so text order is time order.
            cursor = conn.execute(
                "DELETE FROM s3_uploads WHERE started < ?",
                (encode_time(started_before.astimezone(UTC)),),
            )
            return cursor.rowcount

        return await self._db.run(op, write=True)
