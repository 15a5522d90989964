"""``DirectoryStore`` in the SQLite file that holds the states.

The directory is one row of its own table, ``directory`` (its ``id`` is
always 1), holding the version and the JSON document
(``taco_adapters.wire.directory``). A save is one ``BEGIN IMMEDIATE``
transaction that reads the stored version and writes only if it is the
expected one: SQLite grants that transaction to one connection at a time
across every process sharing the file, so of concurrent savers exactly one
wins, as the port requires.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from taco_adapters.sqlite.database import SqliteDatabase, execute_script
from taco_adapters.wire.directory import directory_bytes, directory_from_bytes
from taco_core.directory import Directory

_SCHEMA = """
CREATE TABLE IF NOT EXISTS directory (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  INTEGER NOT NULL,
    document TEXT NOT NULL
)
"""


class SqliteDirectoryStore:
    """The organization directory in the service's SQLite database file."""

    def __init__(self, path: str | Path, *, connections: int = 2, busy_timeout: float = 30.0):
        self._db = SqliteDatabase(path, connections=connections, busy_timeout=busy_timeout)
        self.path = self._db.path

    @classmethod
    async def open(cls, path: str | Path, **kwargs: Any) -> SqliteDirectoryStore:
        """Open the file (creating it, its folder and the table if missing)."""
        store = cls(path, **kwargs)
        await store._db.open(lambda conn: execute_script(conn, _SCHEMA))
        return store

    async def aclose(self) -> None:
        await self._db.aclose()

    async def load(self) -> Directory | None:
        def op(conn: sqlite3.Connection) -> Directory | None:
            row = conn.execute("SELECT document FROM directory WHERE id = 1").fetchone()
            if row is None:
                return None
            return directory_from_bytes(row[0].encode(), f"SQLite file {self.path}")

        return await self._db.run(op, write=False)

    async def save(self, directory: Directory, expected_version: int | None) -> bool:
        document = directory_bytes(directory).decode()

        def op(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT version FROM directory WHERE id = 1").fetchone()
            if (None if row is None else row[0]) != expected_version:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO directory (id, version, document) VALUES (1, ?, ?)",
                (directory.version, document),
            )
            return True

        return await self._db.run(op, write=True)
