"""The embedded default storage: one SQLite file, durable, multi-process safe.

``SqliteStateStore`` (units, locks, history), ``SqliteAuthStore`` (tokens,
signing keys), ``SqliteRbacStore`` (the RBAC policy) and ``SqliteAuditLog``
(the audit trail) keep their tables in the same file, each over its own
``SqliteDatabase`` (a pool of connections, one transaction per call, sqlite3
errors translated at this edge).
"""

from __future__ import annotations

from taco_adapters.sqlite.audit_log import SqliteAuditLog
from taco_adapters.sqlite.auth_store import SqliteAuthStore
from taco_adapters.sqlite.database import SqliteDatabase, companion_files
from taco_adapters.sqlite.rbac_store import SqliteRbacStore
from taco_adapters.sqlite.state_store import SqliteStateStore

__all__ = [
    "SqliteAuditLog",
    "SqliteAuthStore",
    "SqliteDatabase",
    "SqliteRbacStore",
    "SqliteStateStore",
    "companion_files",
]
