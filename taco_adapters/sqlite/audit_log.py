"""``AuditLog`` in the SQLite file that holds the states.

The records live in their own table (``audit_records``), keyed by record ID,
which sorts in time order; the indexes on ``(unit_id, id)`` and
``(subject, id)`` serve the filtered queries in that same order, so every
query is one index range scan, and a purge by age is a range delete on the
key. An append is one ``BEGIN IMMEDIATE`` transaction for the whole batch
(``AuditService`` groups records for exactly that reason: one fsync per
batch instead of one per state write).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from taco_adapters.sqlite.database import SqliteDatabase, execute_script
from taco_adapters.timestamps import decode_time, encode_time
from taco_core.audit import AuditPage, AuditQuery, AuditRecord, id_floor

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_records (
    id             TEXT PRIMARY KEY,
    at             TEXT NOT NULL,
    action         TEXT NOT NULL,
    subject        TEXT NOT NULL,
    principal_kind TEXT NOT NULL,
    token_id       TEXT NOT NULL,
    unit_id        TEXT NOT NULL,
    version        INTEGER,
    lock_id        TEXT NOT NULL,
    detail         TEXT NOT NULL,
    origin         TEXT NOT NULL,
    surface        TEXT NOT NULL,
    request_id     TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS audit_records_unit ON audit_records (unit_id, id);
CREATE INDEX IF NOT EXISTS audit_records_subject ON audit_records (subject, id);
"""

_COLUMNS = (
    "id, at, action, subject, principal_kind, token_id, unit_id, version, lock_id, detail, "
    "origin, surface, request_id"
)


class SqliteAuditLog:
    """``AuditLog`` in the service's SQLite database file."""

    def __init__(self, path: str | Path, *, connections: int = 2, busy_timeout: float = 30.0):
        self._db = SqliteDatabase(path, connections=connections, busy_timeout=busy_timeout)
        self.path = self._db.path

    @classmethod
    async def open(cls, path: str | Path, **kwargs: Any) -> SqliteAuditLog:
        """Open the file (creating it, its folder and the table if missing)."""
        log = cls(path, **kwargs)
        await log._db.open(lambda conn: execute_script(conn, _SCHEMA))
        return log

    async def aclose(self) -> None:
        await self._db.aclose()

    async def append(self, records: Sequence[AuditRecord]) -> None:
        rows = [_row(r) for r in records]

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                f"INSERT OR IGNORE INTO audit_records ({_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

        if rows:
            await self._db.run(op, write=True)

    async def query(self, query: AuditQuery) -> AuditPage:
        bound, inclusive = query.lower_bound()
        where = ["id >= ?" if inclusive else "id > ?"]
        args: list[object] = [bound]
        if query.unit:
            where.append("unit_id = ?")
            args.append(query.unit)
        if query.subject:
            where.append("subject = ?")
            args.append(query.subject)
        # One more than asked: whether it exists says if there is a next page.
        args.append(query.limit + 1)
        sql = (
            f"SELECT {_COLUMNS} FROM audit_records WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
        )

        def op(conn: sqlite3.Connection) -> list[AuditRecord]:
            return [_record(row) for row in conn.execute(sql, args)]

        found = await self._db.run(op, write=False)
        if len(found) > query.limit:
            page = tuple(found[: query.limit])
            return AuditPage(page, page[-1].id)
        return AuditPage(tuple(found), None)

    async def purge(self, before: datetime) -> int:
        floor = id_floor(before)

        def op(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM audit_records WHERE id < ?", (floor,)).rowcount

        return await self._db.run(op, write=True)


def _row(r: AuditRecord) -> tuple[object, ...]:
    return (
        r.id,
        encode_time(r.at),
        r.action,
        r.subject,
        r.principal_kind,
        r.token_id,
        r.unit_id,
        r.version,
        r.lock_id,
        r.detail,
        r.origin,
        r.surface,
        r.request_id,
    )


def _record(row: tuple[Any, ...]) -> AuditRecord:
    return AuditRecord(
        id=row[0],
        at=decode_time(row[1]),
        action=row[2],
        subject=row[3],
        principal_kind=row[4],
        token_id=row[5],
        unit_id=row[6],
        version=row[7],
        lock_id=row[8],
        detail=row[9],
        origin=row[10],
        surface=row[11],
        request_id=row[12],
    )
