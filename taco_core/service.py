"""The use cases: everything a front end can do with units, over the ports.

Front ends (HTTP service, CLI in embedded mode, provider, custom tooling) call
these and nothing else, so rules hold the same way for all of them.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta

import anyio
import anyio.to_thread
import attrs
from attrs import frozen

from taco_core import guard, locks
from taco_core.diff import StateDiff, diff_states
from taco_core.errors import (
    ConcurrentUpdate,
    InvalidInput,
    StateRejected,
    StateTooLarge,
    UnitAlreadyExists,
    UnitNotFound,
)
from taco_core.model import (
    LockInfo,
    NewVersion,
    Payload,
    RetentionPolicy,
    StateFacts,
    StateVersion,
    Surface,
    Unit,
    UnitId,
    VersionPage,
    WriteResult,
)
from taco_core.ports import Clock, StateStore
from taco_core.state_doc import load_object, read_facts
from taco_core.unit_id import check_prefix, parse_user_unit_id

# A write re-reads the head and retries when another writer moved it between
# the read and the atomic commit. Contention on one unit is rare (Terraform
# holds a lock), so a few attempts are plenty.
_MAX_ATTEMPTS = 16

DEFAULT_MAX_STATE_BYTES = 512 * 1024 * 1024


@frozen
class Policy:
    """Limits and retention the service enforces."""

    max_state_bytes: int = DEFAULT_MAX_STATE_BYTES
    retention: RetentionPolicy = RetentionPolicy()
    delete_grace_seconds: float = 7 * 24 * 3600.0


class StateService:
    """Use cases over a ``StateStore``."""

    def __init__(self, store: StateStore, clock: Clock, policy: Policy | None = None) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy or Policy()

    # -- units -------------------------------------------------------------

    async def create_unit(self, raw_id: str, labels: Mapping[str, str] | None = None) -> Unit:
        """Create a unit a user asked for (reserved IDs are refused)."""
        unit_id = parse_user_unit_id(raw_id)
        return await self._create(unit_id, labels)

    async def _create(self, unit_id: UnitId, labels: Mapping[str, str] | None = None) -> Unit:
        now = self.clock.now()
        return await self.store.create_unit(
            Unit(id=unit_id, created=now, updated=now, labels=labels or {})
        )

    async def ensure_unit(self, unit_id: UnitId) -> None:
        """Create the unit if it does not exist (Terraform's backend writes and
        locks create units on first use)."""
        with contextlib.suppress(UnitAlreadyExists):
            await self._create(unit_id)

    async def get_unit(self, unit_id: UnitId) -> Unit:
        return await self.store.get_unit(unit_id)

    async def list_units(self, prefix: str = "", *, deleted: bool = False) -> Sequence[Unit]:
        return await self.store.list_units(check_prefix(prefix), deleted=deleted)

    async def delete_unit(self, unit_id: UnitId) -> None:
        """Soft-delete; recoverable with ``undelete_unit`` during the grace period."""
        await self.store.delete_unit(unit_id, self.clock.now())

    async def undelete_unit(self, unit_id: UnitId) -> Unit:
        return await self.store.undelete_unit(unit_id)

    async def ping(self) -> None:
        """Prove the store answers (readiness); ``StorageUnavailable`` if not."""
        await self.store.ping()

    async def purge_expired(self) -> Sequence[UnitId]:
        """Remove units deleted longer ago than the grace period."""
        cutoff = self.clock.now() - timedelta(seconds=self.policy.delete_grace_seconds)
        return await self.store.purge_deleted(cutoff)

    # -- locks -------------------------------------------------------------

    async def lock(
        self, unit_id: UnitId, wanted: LockInfo, *, create_missing: bool = False
    ) -> LockInfo:
        """Acquire the unit's lock. A blank ID gets a fresh one; a blank
        ``created`` gets the server's time."""
        if not wanted.id:
            wanted = attrs.evolve(wanted, id=str(uuid.uuid4()))
        if not wanted.created:
            wanted = attrs.evolve(
                wanted, created=self.clock.now().isoformat().replace("+00:00", "Z")
            )
        try:
            return await self.store.lock(unit_id, wanted)
        except UnitNotFound:
            if not create_missing:
                raise
        # First use of the unit: create it (a concurrent creator may win; fine).
        await self.ensure_unit(unit_id)
        return await self.store.lock(unit_id, wanted)

    async def unlock(self, unit_id: UnitId, lock_id: str | None) -> None:
        """Release the lock; ``lock_id=None`` forces it open."""
        await self.store.unlock(unit_id, lock_id)

    # -- state -------------------------------------------------------------

    async def download(self, unit_id: UnitId) -> tuple[StateVersion, bytes] | None:
        """The current state, or ``None`` if the unit has none yet.
        ``UnitNotFound`` if the unit does not exist."""
        found = await self.store.read_state(unit_id)
        if found is None:
            await self.store.get_unit(unit_id)
        return found

    def check_size(self, size: int) -> None:
        """Refuse payloads over the configured limit (callers check early,
        before reading a body, when they know its length)."""
        if size > self.policy.max_state_bytes:
            raise StateTooLarge(self.policy.max_state_bytes)

    async def upload(
        self,
        unit_id: UnitId,
        data: Payload,
        *,
        lock_id: str | None = None,
        force: bool = False,
        surface: Surface = Surface.API,
        author: str = "",
        create_missing: bool = False,
    ) -> WriteResult:
        """Make ``data`` the unit's current state.

        Order of checks: size and shape (``InvalidInput``), the lock
        (``LockConflict``; nothing is stored), then the clobber guard: a refused
        write is kept as a quarantined version and ``StateRejected`` names it.
        """
        self.check_size(len(data))
        facts = await _read_facts(data)

        async def attempt(current: StateVersion | None) -> WriteResult:
            verdict = guard.judge(current, facts, force=force)
            if verdict.outcome is guard.Outcome.IDEMPOTENT and current is not None:
                return WriteResult(current, changed=False)
            new = NewVersion(
                facts=facts,
                data=data,
                created=self.clock.now(),
                author=author,
                surface=surface,
                note="forced over the clobber guard" if force else "",
            )
            if verdict.outcome is guard.Outcome.REFUSE:
                quarantined = attrs.evolve(new, quarantined=True, note=verdict.reason)
                kept = await self._commit(unit_id, quarantined, current, lock_id)
                raise StateRejected(unit_id, verdict.reason, kept.number)
            return WriteResult(await self._commit(unit_id, new, current, lock_id), changed=True)

        return await self._optimistic(unit_id, lock_id, attempt, create_missing=create_missing)

    async def _optimistic(
        self,
        unit_id: UnitId,
        lock_id: str | None,
        attempt: Callable[[StateVersion | None], Awaitable[WriteResult]],
        *,
        create_missing: bool = False,
    ) -> WriteResult:
        """Run ``attempt`` against the current head until its commit lands.

        The lock is checked up front so a refused writer fails before any
        work; the store checks it again atomically with the commit. When
        another writer moves the head in between, the commit raises
        ``ConcurrentUpdate`` and the attempt is re-run on the new head.
        """
        for _ in range(_MAX_ATTEMPTS):
            try:
                unit, current = await self.store.unit_and_head(unit_id)
            except UnitNotFound:
                if not create_missing:
                    raise
                await self.ensure_unit(unit_id)
                continue
            locks.check_write(unit_id, unit.lock, lock_id)
            try:
                return await attempt(current)
            except ConcurrentUpdate:
                continue
        raise ConcurrentUpdate(unit_id)

    async def _commit(
        self, unit_id: UnitId, new: NewVersion, current: StateVersion | None, lock_id: str | None
    ) -> StateVersion:
        return await self.store.commit(
            unit_id,
            new,
            expected_head=current.number if current else None,
            lock_id=lock_id,
            retention=self.policy.retention,
        )

    # -- history -----------------------------------------------------------

    async def list_versions(self, unit_id: UnitId) -> Sequence[StateVersion]:
        return await self.store.list_versions(unit_id)

    async def version_page(self, unit_id: UnitId, *, offset: int, limit: int) -> VersionPage:
        """Part of the history, newest first (``limit=1``: just the newest),
        without reading the rest of it."""
        return await self.store.version_page(unit_id, offset=offset, limit=limit)

    async def read_version(self, unit_id: UnitId, number: int) -> tuple[StateVersion, bytes]:
        return await self.store.read_version(unit_id, number)

    async def restore(
        self,
        unit_id: UnitId,
        number: int,
        *,
        lock_id: str | None = None,
        author: str = "",
    ) -> StateVersion:
        """Make version ``number``'s content current again, as a new version.

        The bytes are the old version's with ``serial`` set above every serial
        the unit has seen, so Terraform accepts the restored state as newer
        than anything it holds. Honours the lock like any write.
        """
        old, data = await self.store.read_version(unit_id, number)
        doc = load_object(data)

        async def attempt(current: StateVersion | None) -> WriteResult:
            seen = [v.serial for v in await self.store.list_versions(unit_id)]
            top = max((x for x in [*seen, old.serial] if x is not None), default=-1)
            restored = with_serial(data, doc, top + 1)
            new = NewVersion(
                facts=read_facts(restored),
                data=restored,
                created=self.clock.now(),
                author=author,
                surface=Surface.RESTORE,
                note=f"restored from version {number}",
                restored_from=number,
            )
            return WriteResult(await self._commit(unit_id, new, current, lock_id), changed=True)

        return (await self._optimistic(unit_id, lock_id, attempt)).version

    async def diff(
        self, unit_id: UnitId, from_version: int | None = None, to_version: int | None = None
    ) -> StateDiff:
        """What changed between two versions.

        ``to_version`` defaults to the current version; ``from_version`` to the
        newest non-quarantined version before it (or nothing, for the first).
        """
        if to_version is None:
            to_version = (await self.store.get_unit(unit_id)).head
            if to_version is None:
                raise InvalidInput(f"unit {unit_id!r} has no state yet; nothing to compare")
        if from_version is None:
            earlier = [
                v.number
                for v in await self.store.list_versions(unit_id)
                if v.number < to_version and not v.quarantined
            ]
            from_version = max(earlier, default=None)
        after = load_object((await self.store.read_version(unit_id, to_version))[1])
        before: dict[str, object] = {}
        if from_version is not None:
            before = load_object((await self.store.read_version(unit_id, from_version))[1])
        return diff_states(before, after, from_version=from_version, to_version=to_version)


# Parsing and hashing a large state takes long enough to stall every other
# request if done on the event loop; small ones are cheaper inline.
_INLINE_PARSE_LIMIT = 256 * 1024


async def _read_facts(data: Payload) -> StateFacts:
    if len(data) <= _INLINE_PARSE_LIMIT:
        return read_facts(data)
    return await anyio.to_thread.run_sync(read_facts, data)


_SERIAL = re.compile(rb'"serial"\s*:\s*\d+')


def with_serial(data: bytes, doc: Mapping[str, object], serial: int) -> bytes:
    """``data`` with its top-level ``serial`` replaced, changing nothing else.

    Terraform writes ``serial`` before ``outputs`` and ``resources``, so the
    first match is the top-level field; the result is checked, and a state
    whose layout defeats the byte edit is re-serialised instead.
    """
    if "serial" not in doc:
        raise InvalidInput("the version has no 'serial' field; it is not a Terraform state")
    edited = _SERIAL.sub(b'"serial": %d' % serial, data, count=1)
    try:
        if json.loads(edited) == {**doc, "serial": serial}:
            return edited
    except ValueError:
        pass
    return (json.dumps({**doc, "serial": serial}, indent=2) + "\n").encode()
