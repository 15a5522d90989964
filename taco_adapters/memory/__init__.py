"""In-process adapters: a public fake of every storage port.

``MemoryStateStore``, ``MemoryAuthStore``, ``MemoryRbacStore``, ``MemoryAuditLog``,
``MemoryDirectoryStore`` and ``MemoryUploadStaging`` pass the same contract suites as the
durable stores (``tests/contract``), so tests and throwaway servers may use them in place of
SQLite or S3. Nothing survives the process.
"""

from __future__ import annotations

from taco_adapters.memory.audit_log import MemoryAuditLog
from taco_adapters.memory.auth_store import MemoryAuthStore
from taco_adapters.memory.directory_store import MemoryDirectoryStore
from taco_adapters.memory.rbac_store import MemoryRbacStore
from taco_adapters.memory.staging import MemoryUploadStaging
from taco_adapters.memory.state_store import MemoryStateStore

__all__ = [
    "MemoryAuditLog",
    "MemoryAuthStore",
    "MemoryDirectoryStore",
    "MemoryRbacStore",
    "MemoryStateStore",
    "MemoryUploadStaging",
]
