"""The ports: what the core needs from the outside world, as async Protocols.

Adapters (``taco_adapters``) implement them by technology: memory, SQLite, S3,
and the remote HTTP client. Every adapter passes the same contract suite in
``tests/contract``; the docstrings below are that contract in prose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from taco_core.model import (
    LockInfo,
    NewVersion,
    RetentionPolicy,
    StateVersion,
    Surface,
    Unit,
    WriteResult,
)
from taco_core.unit_id import UnitId


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class StateStore(Protocol):
    """Units, their locks and their append-only history, stored atomically.

    Every method is atomic on its own: a concurrent caller (another task, thread
    or process sharing the storage) sees it entirely or not at all. Deleted
    units (soft delete) are invisible to every method unless a method says
    otherwise. Vendor errors surface as ``StorageUnavailable``.
    """

    async def create_unit(self, unit: Unit) -> Unit:
        """Store a new unit. ``UnitAlreadyExists`` if a live unit has the ID,
        also when a soft-deleted one does (undelete or purge it first)."""
        ...

    async def get_unit(self, unit_id: UnitId, *, include_deleted: bool = False) -> Unit:
        """The unit with its current lock. ``UnitNotFound`` if absent."""
        ...

    async def list_units(self, prefix: str = "", *, deleted: bool = False) -> Sequence[Unit]:
        """Units whose ID starts with ``prefix`` (plain string prefix), sorted by
        ID. ``deleted=True`` lists only soft-deleted units instead."""
        ...

    async def delete_unit(self, unit_id: UnitId, at: datetime) -> None:
        """Soft-delete: hide the unit and keep its history until purged.
        ``UnitNotFound`` if absent; ``LockConflict`` if it is locked."""
        ...

    async def undelete_unit(self, unit_id: UnitId) -> Unit:
        """Bring back a soft-deleted unit. ``UnitNotFound`` if there is no
        deleted unit with the ID; ``UnitAlreadyExists`` if a live one took it."""
        ...

    async def purge_deleted(self, deleted_before: datetime) -> Sequence[UnitId]:
        """Remove for good the units deleted before the given time, with all
        their versions. Returns their IDs."""
        ...

    async def lock(self, unit_id: UnitId, wanted: LockInfo) -> LockInfo:
        """Acquire the lock (rules: ``taco_core.locks.check_lock``), deciding
        atomically so that exactly one of many concurrent callers wins.
        ``LockConflict`` carries the holder; ``UnitNotFound`` if absent."""
        ...

    async def unlock(self, unit_id: UnitId, lock_id: str | None) -> None:
        """Release the lock (``taco_core.locks.check_unlock``); ``None`` forces.
        Idempotent on an unlocked unit."""
        ...

    async def head(self, unit_id: UnitId) -> StateVersion | None:
        """The current version's metadata, or ``None`` before the first write."""
        ...

    async def commit(
        self,
        unit_id: UnitId,
        new: NewVersion,
        *,
        expected_head: int | None,
        lock_id: str | None,
        retention: RetentionPolicy,
    ) -> StateVersion:
        """Append ``new`` to the unit's history in one atomic step.

        Checks, atomically with the write: the lock (``locks.check_write`` with
        ``lock_id``), then that the current head is still ``expected_head``
        (else ``ConcurrentUpdate``; the caller re-reads and retries). A
        non-quarantined version becomes the head; a quarantined one does not.
        Then prunes per ``retention`` (``taco_core.retention.prunable``).
        Numbers increase by one per commit and are never reused.
        """
        ...

    async def read_state(self, unit_id: UnitId) -> tuple[StateVersion, bytes] | None:
        """The current version and its bytes, or ``None`` before the first write."""
        ...

    async def list_versions(self, unit_id: UnitId) -> Sequence[StateVersion]:
        """Every kept version of the unit, newest first (quarantined included)."""
        ...

    async def read_version(self, unit_id: UnitId, number: int) -> tuple[StateVersion, bytes]:
        """One version and its bytes. ``VersionNotFound`` if not kept."""
        ...

    async def ping(self) -> None:
        """Cheap round trip proving the store is reachable (readiness)."""
        ...

    async def aclose(self) -> None:
        """Release connections and clients."""
        ...


class StateControl(Protocol):
    """What a front end (CLI, provider, custom tooling) can do with units.

    Two implementations share it, so every front end runs unchanged against a
    server or embedded: ``taco_core.service.StateService`` (in process, over a
    ``StateStore``) and ``taco_adapters.remote.RemoteStateControl`` (HTTP
    client of a running ``opentacosvc``). Errors are the core's ``TacoError``
    classes in both.
    """

    async def create_unit(self, raw_id: str, labels: Mapping[str, str] | None = None) -> Unit:
        """Create a unit; ``UnitAlreadyExists``, ``InvalidUnitId``, ``ReservedUnitId``."""
        ...

    async def list_units(self, prefix: str = "", *, deleted: bool = False) -> Sequence[Unit]:
        """Units whose ID starts with ``prefix``, sorted by ID."""
        ...

    async def get_unit(self, unit_id: UnitId) -> Unit:
        """One unit with its lock; ``UnitNotFound``."""
        ...

    async def delete_unit(self, unit_id: UnitId) -> None:
        """Soft-delete; ``UnitNotFound``, ``LockConflict`` when locked."""
        ...

    async def undelete_unit(self, unit_id: UnitId) -> Unit:
        """Bring back a soft-deleted unit."""
        ...

    async def download(self, unit_id: UnitId) -> tuple[StateVersion, bytes] | None:
        """The current state, ``None`` when the unit has none yet."""
        ...

    async def upload(
        self,
        unit_id: UnitId,
        data: bytes,
        *,
        lock_id: str | None = None,
        force: bool = False,
        surface: Surface = Surface.API,
        author: str = "",
        create_missing: bool = False,
    ) -> WriteResult:
        """Store a new current state (lock, validation and clobber guard apply)."""
        ...

    async def lock(
        self, unit_id: UnitId, wanted: LockInfo, *, create_missing: bool = False
    ) -> LockInfo:
        """Acquire the lock; ``LockConflict`` carries the holder."""
        ...

    async def unlock(self, unit_id: UnitId, lock_id: str | None) -> None:
        """Release the lock; ``None`` forces it."""
        ...

    async def list_versions(self, unit_id: UnitId) -> Sequence[StateVersion]:
        """History, newest first, quarantined versions included."""
        ...

    async def read_version(self, unit_id: UnitId, number: int) -> tuple[StateVersion, bytes]:
        """One version's metadata and bytes; ``VersionNotFound``."""
        ...

    async def restore(
        self, unit_id: UnitId, number: int, *, lock_id: str | None = None, author: str = ""
    ) -> StateVersion:
        """Make an old version current again as a new version with a higher serial."""
        ...
