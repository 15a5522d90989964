"""``RbacStore`` in the SQLite file that holds the states.

The policy is one row of its own table, ``rbac_policy`` (its ``id`` is always
1), holding the version and the JSON document (``taco_adapters.wire.rbac``).
A save is one ``BEGIN IMMEDIATE`` transaction that reads the stored version
and writes only if it is the expected one: SQLite grants that transaction to
one connection at a time across every process sharing the file, so of
concurrent savers exactly one wins, as the port requires.

Every authorization decision may load the policy, so a load first reads the
version alone and parses the document only when the version differs from the
one this store last saw: a version number never names two documents (the
service saves ``expected + 1``), so the kept policy is then still the stored one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from taco_adapters.sqlite.database import SqliteDatabase, execute_script
from taco_adapters.wire import policy_bytes, policy_from_bytes
from taco_core.rbac import RbacPolicy

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rbac_policy (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  INTEGER NOT NULL,
    document TEXT NOT NULL
)
"""


class SqliteRbacStore:
    """The RBAC policy in the service's SQLite database file."""

    def __init__(self, path: str | Path, *, connections: int = 2, busy_timeout: float = 30.0):
        self._db = SqliteDatabase(path, connections=connections, busy_timeout=busy_timeout)
        self.path = self._db.path
        self._seen: RbacPolicy | None = None

    @classmethod
    async def open(cls, path: str | Path, **kwargs: Any) -> SqliteRbacStore:
        """Open the file (creating it, its folder and the table if missing)."""
        store = cls(path, **kwargs)
        await store._db.open(lambda conn: execute_script(conn, _SCHEMA))
        return store

    async def aclose(self) -> None:
        await self._db.aclose()

    async def load(self) -> RbacPolicy | None:
        seen = self._seen

        def op(conn: sqlite3.Connection) -> RbacPolicy | None:
            row = conn.execute("SELECT version FROM rbac_policy WHERE id = 1").fetchone()
            if row is None:
                return None
            if seen is not None and seen.version == row[0]:
                return seen
            (document,) = conn.execute("SELECT document FROM rbac_policy WHERE id = 1").fetchone()
            return policy_from_bytes(document.encode(), f"SQLite file {self.path}")

        loaded = await self._db.run(op, write=False)
        if loaded is not None:
            self._seen = loaded
        return loaded

    async def save(self, policy: RbacPolicy, expected_version: int | None) -> bool:
        document = policy_bytes(policy).decode()

        def op(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT version FROM rbac_policy WHERE id = 1").fetchone()
            if (None if row is None else row[0]) != expected_version:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO rbac_policy (id, version, document) VALUES (1, ?, ?)",
                (policy.version, document),
            )
            return True

        saved = await self._db.run(op, write=True)
        if saved:
            self._seen = policy
        return saved
