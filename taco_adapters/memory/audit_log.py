"""In-process ``AuditLog``: the public fake, and the trail of a server on
memory storage (which forgets everything at exit anyway).

Records are kept in ID order, so a query is a scan from the first record
past the query's bound. No method awaits inside its critical section, so on
one event loop each call is atomic without a lock.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import datetime

from taco_core.audit import AuditPage, AuditQuery, AuditRecord, id_floor


class MemoryAuditLog:
    """``AuditLog`` over a sorted list."""

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._records: list[AuditRecord] = []

    async def aclose(self) -> None:
        """Nothing to release."""

    async def append(self, records: Sequence[AuditRecord]) -> None:
        for record in records:
            at = bisect.bisect_left(self._ids, record.id)
            if at < len(self._ids) and self._ids[at] == record.id:
                continue
            self._ids.insert(at, record.id)
            self._records.insert(at, record)

    async def query(self, query: AuditQuery) -> AuditPage:
        bound, _ = query.lower_bound()
        found: list[AuditRecord] = []
        for record in self._records[bisect.bisect_left(self._ids, bound) :]:
            if not query.matches(record):
                continue
            if len(found) == query.limit:
                return AuditPage(tuple(found), found[-1].id)
            found.append(record)
        return AuditPage(tuple(found), None)

    async def purge(self, before: datetime) -> int:
        cut = bisect.bisect_left(self._ids, id_floor(before))
        del self._ids[:cut], self._records[:cut]
        return cut
