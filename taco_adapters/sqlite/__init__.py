"""The embedded default storage: one SQLite file, durable, multi-process safe.

``SqliteStateStore`` (units, locks, history), ``SqliteAuthStore`` (tokens,
signing keys), ``SqliteRbacStore`` (the RBAC policy), ``SqliteAuditLog`` (the
audit trail), ``SqliteDirectoryStore`` (the TFE organizations) and
``SqliteUploadStaging`` (the S3 endpoint's multipart uploads in progress) keep
their tables in the same file, each over its own
``SqliteDatabase`` (a pool of connections, one transaction per call, sqlite3
errors translated at this edge).
"""

from __future__ import annotations

from taco_adapters.sqlite.audit_log import SqliteAuditLog
from taco_adapters.sqlite.auth_store import SqliteAuthStore
from taco_adapters.sqlite.database import SqliteDatabase, companion_files
from taco_adapters.sqlite.directory_store import SqliteDirectoryStore
from taco_adapters.sqlite.rbac_store import SqliteRbacStore
from taco_adapters.sqlite.staging import SqliteUploadStaging
from taco_adapters.sqlite.state_store import SqliteStateStore

__all__ = [
    "SqliteAuditLog",
    "SqliteAuthStore",
    "SqliteDatabase",
    "SqliteDirectoryStore",
    "SqliteRbacStore",
    "SqliteStateStore",
    "SqliteUploadStaging",
    "companion_files",
]
