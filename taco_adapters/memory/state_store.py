"""An in-process ``StateStore``: a public fake for tests and throwaway servers.

Every method runs without awaiting inside its critical section, so on one
event loop each call is atomic without a lock. It passes the same contract
suite as the durable adapters. Nothing survives the process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import attrs

from taco_adapters.wire import unit_document
from taco_core import locks, retention
from taco_core.content import BytesReader, StateReader
from taco_core.errors import (
    ConcurrentUpdate,
    LockConflict,
    UnitAlreadyExists,
    UnitNotFound,
    VersionNotFound,
)
from taco_core.labels import apply_label_changes
from taco_core.model import (
    LockInfo,
    NewVersion,
    RetentionPolicy,
    StateVersion,
    Unit,
    UnitId,
    VersionPage,
)


@attrs.define
class _Record:
    unit: Unit
    next_number: int = 1
    versions: dict[int, tuple[StateVersion, bytes]] = attrs.field(factory=dict)


class MemoryStateStore:
    """``StateStore`` over dictionaries."""

    def __init__(self) -> None:
        self._live: dict[UnitId, _Record] = {}
        # Deleted incarnations, oldest first: an ID is free again as soon as it
        # is deleted, and several deleted incarnations of one ID may wait here.
        self._deleted: list[_Record] = []

    def _record(self, unit_id: UnitId) -> _Record:
        try:
            return self._live[unit_id]
        except KeyError:
            raise UnitNotFound(unit_id) from None

    async def create_unit(self, unit: Unit) -> Unit:
        if unit.id in self._live:
            raise UnitAlreadyExists(unit.id)
        self._live[unit.id] = _Record(unit)
        return unit

    async def get_unit(self, unit_id: UnitId) -> Unit:
        return self._record(unit_id).unit

    async def list_units(self, prefix: str = "", *, deleted: bool = False) -> Sequence[Unit]:
        if deleted:
            units = [r.unit for r in self._deleted if r.unit.id.startswith(prefix)]
            return sorted(units, key=lambda u: (u.id, -(u.deleted_at or u.created).timestamp()))
        return [self._live[k].unit for k in sorted(self._live) if k.startswith(prefix)]

    async def unit_documents(
        self,
        prefix: str = "",
        *,
        deleted: bool = False,
        after: str = "",
        limit: int | None = None,
    ) -> Sequence[tuple[UnitId, str]]:
        units = [u for u in await self.list_units(prefix, deleted=deleted) if u.id > after]
        return [(u.id, unit_document(u)) for u in units[:limit]]

    async def delete_unit(self, unit_id: UnitId, at: datetime) -> None:
        record = self._record(unit_id)
        if record.unit.lock is not None:
            raise LockConflict(unit_id, record.unit.lock)
        record.unit = attrs.evolve(record.unit, deleted_at=at)
        self._deleted.append(self._live.pop(unit_id))

    async def undelete_unit(self, unit_id: UnitId) -> Unit:
        candidates = [r for r in self._deleted if r.unit.id == unit_id]
        if not candidates:
            raise UnitNotFound(unit_id)
        if unit_id in self._live:
            raise UnitAlreadyExists(unit_id)
        record = candidates[-1]
        self._deleted.remove(record)
        record.unit = attrs.evolve(record.unit, deleted_at=None)
        self._live[unit_id] = record
        return record.unit

    async def purge_deleted(self, deleted_before: datetime) -> Sequence[UnitId]:
        def expired(r: _Record) -> bool:
            return r.unit.deleted_at is not None and r.unit.deleted_at < deleted_before

        doomed = [r.unit.id for r in self._deleted if expired(r)]
        self._deleted = [r for r in self._deleted if not expired(r)]
        return sorted(doomed)

    async def update_labels(self, unit_id: UnitId, changes: Mapping[str, str | None]) -> Unit:
        record = self._record(unit_id)
        labels = apply_label_changes(record.unit.labels, changes)
        record.unit = attrs.evolve(record.unit, labels=labels)
        return record.unit

    async def lock(self, unit_id: UnitId, wanted: LockInfo) -> LockInfo:
        record = self._record(unit_id)
        held = locks.check_lock(unit_id, record.unit.lock, wanted)
        record.unit = attrs.evolve(record.unit, lock=held)
        return held

    async def unlock(self, unit_id: UnitId, lock_id: str | None) -> LockInfo | None:
        record = self._record(unit_id)
        held = record.unit.lock
        locks.check_unlock(unit_id, held, lock_id)
        record.unit = attrs.evolve(record.unit, lock=None)
        return held

    async def head(self, unit_id: UnitId) -> StateVersion | None:
        record = self._record(unit_id)
        if record.unit.head is None:
            return None
        return record.versions[record.unit.head][0]

    async def commit(
        self,
        unit_id: UnitId,
        new: NewVersion,
        *,
        expected_head: int | None,
        lock_id: str | None,
        retention: RetentionPolicy,
    ) -> StateVersion:
        record = self._record(unit_id)
        locks.check_write(unit_id, record.unit.lock, lock_id)
        if not new.quarantined and record.unit.head != expected_head:
            raise ConcurrentUpdate(unit_id)
        version = StateVersion.from_new(unit_id, record.next_number, new)
        record.versions[version.number] = (version, bytes(new.data))
        record.next_number += 1
        if not new.quarantined:
            record.unit = attrs.evolve(
                record.unit, head=version.number, size=version.size, updated=version.created
            )
        for number in _prunable(record, retention, new.created):
            del record.versions[number]
        return version

    async def unit_and_head(self, unit_id: UnitId) -> tuple[Unit, StateVersion | None]:
        return await self.get_unit(unit_id), await self.head(unit_id)

    async def read_state(self, unit_id: UnitId) -> tuple[StateVersion, bytes] | None:
        record = self._record(unit_id)
        if record.unit.head is None:
            return None
        return record.versions[record.unit.head]

    async def open_state(self, unit_id: UnitId) -> tuple[StateVersion, StateReader] | None:
        found = await self.read_state(unit_id)
        return None if found is None else (found[0], BytesReader(found[1]))

    async def list_versions(self, unit_id: UnitId) -> Sequence[StateVersion]:
        record = self._record(unit_id)
        return [record.versions[n][0] for n in sorted(record.versions, reverse=True)]

    async def read_version(self, unit_id: UnitId, number: int) -> tuple[StateVersion, bytes]:
        record = self._record(unit_id)
        try:
            return record.versions[number]
        except KeyError:
            raise VersionNotFound(unit_id, number) from None

    async def version_page(self, unit_id: UnitId, *, offset: int, limit: int) -> VersionPage:
        versions = await self.list_versions(unit_id)
        return VersionPage(tuple(versions[offset : offset + limit]), len(versions))

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def _prunable(record: _Record, policy: RetentionPolicy, now: datetime) -> list[int]:
    return retention.prunable(
        (v for v, _ in record.versions.values()), record.unit.head, policy, now
    )
