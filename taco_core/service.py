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
from typing import Any

import anyio
import anyio.to_thread
import attrs
from attrs import frozen

from taco_core import guard, locks
from taco_core.access import ALLOW_ALL, AccessControl, ReadAccess
from taco_core.caller import Caller
from taco_core.content import BytesReader, StateReader, read_all
from taco_core.diff import StateDiff, diff_states
from taco_core.errors import (
    ConcurrentUpdate,
    DamagedPayload,
    InvalidInput,
    InvalidState,
    LockConflict,
    PermissionDenied,
    StateRejected,
    StateTooLarge,
    UnitAlreadyExists,
    UnitNotFound,
)
from taco_core.event_bus import EventBus
from taco_core.events import (
    AccessDenied,
    Event,
    LockAcquired,
    LockRefused,
    LockReleased,
    StateCommitted,
    UnitCreated,
    UnitDeleted,
    UnitLabelsChanged,
    UnitUndeleted,
    WriteRefused,
)
from taco_core.model import (
    DocumentPage,
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
from taco_core.ports import Clock, EventSink, StateControl, StateStore
from taco_core.rbac import Action
from taco_core.redaction import redact_to_outputs
from taco_core.state_doc import facts_with, fingerprint, load_object, outer_fields, read_facts
from taco_core.unit_id import check_prefix, parse_user_unit_id

# A write re-reads the head and retries when another writer moved it between
# the read and the atomic commit. Contention on one unit is rare (Terraform
# holds a lock), so a few attempts are plenty.
_MAX_ATTEMPTS = 16

DEFAULT_MAX_STATE_BYTES = 512 * 1024 * 1024
# The most units one listing page holds, whatever ``limit`` asks for: a page is
# built in memory, and a client asking for 2^63 means "as many as you give".
MAX_PAGE_UNITS = 10_000


class _HeadMoved(Exception):
    """A conditional write's expected head is no longer current (not retried)."""


@frozen
class Policy:
    """Limits and retention the service enforces."""

    max_state_bytes: int = DEFAULT_MAX_STATE_BYTES
    retention: RetentionPolicy = RetentionPolicy()
    delete_grace_seconds: float = 7 * 24 * 3600.0


class StateService:
    """Use cases over a ``StateStore``.

    Every use case takes the ``Caller`` first and, before it acts, asks
    ``access`` whether the caller's principal may (one place for every front
    end); the service's own work passes ``SYSTEM_CALLER``, which is never
    refused. What happened is published on ``events`` afterwards.
    ``acting_as(caller)`` gives the same use cases as the ``StateControl``
    port, for front ends that work on behalf of one caller (the CLI's
    embedded mode, library users).
    """

    def __init__(
        self,
        store: StateStore,
        clock: Clock,
        policy: Policy | None = None,
        *,
        access: AccessControl = ALLOW_ALL,
        events: EventSink | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy or Policy()
        self.access = access
        self.events: EventSink = events or EventBus()

    def acting_as(self, caller: Caller) -> StateControl:
        """These use cases as the ``StateControl`` port, on behalf of ``caller``."""
        return BoundStateControl(self, caller)

    # -- authorization and events ---------------------------------------------

    async def authorize(self, caller: Caller, action: Action, resource: str) -> None:
        """Refuse (``PermissionDenied``, published as ``AccessDenied``) unless
        ``caller`` may do ``action`` on ``resource``: the one check, for use
        cases built beside this service (the dependency graph's views)."""
        await self._authorize(caller, action, resource)

    async def _authorize(self, caller: Caller, action: Action, resource: str) -> None:
        if caller.is_system:
            return
        try:
            await self.access.check(caller.principal, action, resource)
        except PermissionDenied as exc:
            await self._publish(
                AccessDenied(
                    caller=caller,
                    at=self.clock.now(),
                    action=action,
                    resource=resource,
                    reason=exc.reason,
                )
            )
            raise

    async def _read_access(self, caller: Caller, unit_id: UnitId) -> ReadAccess:
        if caller.is_system:
            return ReadAccess.FULL
        try:
            return await self.access.read_access(caller.principal, unit_id)
        except PermissionDenied as exc:
            await self._publish(
                AccessDenied(
                    caller=caller,
                    at=self.clock.now(),
                    action=exc.action,
                    resource=unit_id,
                    reason=exc.reason,
                )
            )
            raise

    async def _publish(self, event: Event) -> None:
        await self.events.publish(event)

    async def _lock_refused(
        self, caller: Caller, unit_id: UnitId, operation: str, exc: LockConflict
    ) -> None:
        await self._publish(
            LockRefused(
                caller=caller,
                at=self.clock.now(),
                unit_id=unit_id,
                operation=operation,
                holder=exc.holder,
            )
        )

    # -- units -------------------------------------------------------------

    async def create_unit(
        self, caller: Caller, raw_id: str, labels: Mapping[str, str] | None = None
    ) -> Unit:
        """Create a unit a user asked for (reserved IDs are refused)."""
        unit_id = parse_user_unit_id(raw_id)
        await self._authorize(caller, Action.UNIT_WRITE, unit_id)
        return await self._create(caller, unit_id, labels)

    async def _create(
        self, caller: Caller, unit_id: UnitId, labels: Mapping[str, str] | None = None
    ) -> Unit:
        now = self.clock.now()
        unit = await self.store.create_unit(
            Unit(id=unit_id, created=now, updated=now, labels=labels or {})
        )
        await self._publish(UnitCreated(caller=caller, at=now, unit=unit))
        return unit

    async def _ensure_unit(self, caller: Caller, unit_id: UnitId) -> None:
        """Create the unit if it does not exist (Terraform's backend writes and
        locks create units on first use); the caller must be allowed to write."""
        await self._authorize(caller, Action.UNIT_WRITE, unit_id)
        with contextlib.suppress(UnitAlreadyExists):
            await self._create(caller, unit_id)

    async def get_unit(self, caller: Caller, unit_id: UnitId) -> Unit:
        """One unit with its lock (visible to whoever may read its outputs)."""
        await self._authorize(caller, Action.UNIT_READ_OUTPUTS, unit_id)
        return await self.store.get_unit(unit_id)

    async def list_units(
        self, caller: Caller, prefix: str = "", *, deleted: bool = False
    ) -> Sequence[Unit]:
        """Units whose ID starts with ``prefix``, sorted by ID, leaving out
        those the caller may not see (not even their outputs)."""
        units = await self.store.list_units(check_prefix(prefix), deleted=deleted)
        if caller.is_system:
            return units
        return await self.access.filter(
            caller.principal, Action.UNIT_READ_OUTPUTS, units, _unit_key
        )

    async def list_unit_documents(
        self,
        caller: Caller,
        prefix: str = "",
        *,
        deleted: bool = False,
        after: str = "",
        limit: int | None = None,
    ) -> DocumentPage:
        """``list_units`` as the documents the store rendered
        (``StateStore.unit_documents``), filtered the same way: the fast path
        of a large listing. With ``limit``, one page of live units after
        ``after`` and where the next page starts; the page may hold fewer
        than ``limit`` documents when the caller may not see some units, and
        never more than ``MAX_PAGE_UNITS``."""
        if limit is not None and deleted:
            raise InvalidInput("deleted units are listed whole; leave out 'limit'")
        if limit is not None and limit < 1:
            raise InvalidInput("'limit' must be at least 1")
        if limit is not None:
            limit = min(limit, MAX_PAGE_UNITS)
        rows = await self.store.unit_documents(
            check_prefix(prefix),
            deleted=deleted,
            after=after,
            limit=None if limit is None else limit + 1,
        )
        next_after: str | None = None
        if limit is not None and len(rows) > limit:
            rows = rows[:limit]
            next_after = rows[-1][0]
        if not caller.is_system:
            rows = await self.access.filter(
                caller.principal, Action.UNIT_READ_OUTPUTS, rows, _row_key
            )
        return DocumentPage(tuple(doc for _, doc in rows), next_after)

    async def delete_unit(self, caller: Caller, unit_id: UnitId) -> None:
        """Soft-delete; recoverable with ``undelete_unit`` during the grace period."""
        await self._authorize(caller, Action.UNIT_DELETE, unit_id)
        now = self.clock.now()
        try:
            await self.store.delete_unit(unit_id, now)
        except LockConflict as exc:
            await self._lock_refused(caller, unit_id, "delete", exc)
            raise
        await self._publish(UnitDeleted(caller=caller, at=now, unit_id=unit_id))

    async def undelete_unit(self, caller: Caller, unit_id: UnitId) -> Unit:
        """Bring back the most recently deleted incarnation of the ID."""
        await self._authorize(caller, Action.UNIT_WRITE, unit_id)
        unit = await self.store.undelete_unit(unit_id)
        await self._publish(UnitUndeleted(caller=caller, at=self.clock.now(), unit=unit))
        return unit

    async def update_labels(
        self, caller: Caller, unit_id: UnitId, changes: Mapping[str, str | None]
    ) -> Unit:
        """Set (or, with ``None``, remove) some of the unit's labels, leaving
        the others; atomic in the store. Needs ``unit.write``."""
        await self._authorize(caller, Action.UNIT_WRITE, unit_id)
        unit = await self.store.update_labels(unit_id, changes)
        await self._publish(UnitLabelsChanged(caller=caller, at=self.clock.now(), unit=unit))
        return unit

    async def ping(self) -> None:
        """Prove the store answers (readiness); ``StorageUnavailable`` if not."""
        await self.store.ping()

    async def purge_expired(self) -> Sequence[UnitId]:
        """Remove units deleted longer ago than the grace period."""
        cutoff = self.clock.now() - timedelta(seconds=self.policy.delete_grace_seconds)
        return await self.store.purge_deleted(cutoff)

    # -- locks -------------------------------------------------------------

    async def lock(
        self, caller: Caller, unit_id: UnitId, wanted: LockInfo, *, create_missing: bool = False
    ) -> LockInfo:
        """Acquire the unit's lock. A blank ID gets a fresh one; a blank
        ``created`` gets the server's time. ``create_missing`` creates the
        unit on first use (which needs ``unit.write`` too)."""
        await self._authorize(caller, Action.UNIT_LOCK, unit_id)
        wanted = attrs.evolve(wanted, owner=caller.principal.owner_key)
        if not wanted.id:
            wanted = attrs.evolve(wanted, id=str(uuid.uuid4()))
        if not wanted.created:
            wanted = attrs.evolve(
                wanted, created=self.clock.now().isoformat().replace("+00:00", "Z")
            )
        try:
            try:
                held = await self.store.lock(unit_id, wanted)
            except UnitNotFound:
                if not create_missing:
                    raise
                # First use of the unit: create it (a concurrent creator may win; fine).
                await self._ensure_unit(caller, unit_id)
                held = await self.store.lock(unit_id, wanted)
        except LockConflict as exc:
            await self._lock_refused(caller, unit_id, "lock", exc)
            raise
        await self._publish(
            LockAcquired(caller=caller, at=self.clock.now(), unit_id=unit_id, lock=held)
        )
        return held

    async def unlock(self, caller: Caller, unit_id: UnitId, lock_id: str | None) -> None:
        """Release the lock; ``lock_id=None`` forces it open."""
        await self._authorize(caller, Action.UNIT_LOCK, unit_id)
        try:
            holder = await self.store.unlock(unit_id, lock_id)
        except LockConflict as exc:
            await self._lock_refused(caller, unit_id, "unlock", exc)
            raise
        if holder is not None:
            await self._publish(
                LockReleased(
                    caller=caller,
                    at=self.clock.now(),
                    unit_id=unit_id,
                    lock_id=lock_id,
                    forced=lock_id is None,
                    holder=holder,
                )
            )

    # -- state -------------------------------------------------------------

    async def download(self, caller: Caller, unit_id: UnitId) -> tuple[StateVersion, bytes] | None:
        """The current state, or ``None`` if the unit has none yet.
        ``UnitNotFound`` if the unit does not exist. A caller allowed only the
        outputs gets the outputs-only form (``taco_core.redaction``)."""
        access = await self._read_access(caller, unit_id)
        found = await self.store.read_state(unit_id)
        if found is None:
            await self.store.get_unit(unit_id)
            return None
        return await _visible(access, *found)

    async def open_download(
        self, caller: Caller, unit_id: UnitId
    ) -> tuple[StateVersion, StateReader] | None:
        """``download`` for serving: the bytes as a reader that streams a
        large state instead of holding it (``StateStore.open_state``). The
        caller closes the reader. An outputs-only caller gets the redacted
        form, computed from the whole state, never cached."""
        access = await self._read_access(caller, unit_id)
        found = await self.store.open_state(unit_id)
        if found is None:
            await self.store.get_unit(unit_id)
            return None
        version, reader = found
        if access is ReadAccess.FULL:
            return version, reader
        version, redacted = await _visible(access, version, bytes(await read_all(reader)))
        return version, BytesReader(redacted)

    async def authorize_write(self, caller: Caller, unit_id: UnitId) -> None:
        """Refuse (``PermissionDenied``) unless ``caller`` may write the unit:
        for front ends that gather one write over several requests (an S3
        multipart upload), so nothing is staged for a caller the final
        ``upload`` would refuse anyway."""
        await self._authorize(caller, Action.UNIT_WRITE, unit_id)

    def check_size(self, size: int) -> None:
        """Refuse payloads over the configured limit (callers check early,
        before reading a body, when they know its length)."""
        if size > self.policy.max_state_bytes:
            raise StateTooLarge(self.policy.max_state_bytes)

    async def check_write(self, caller: Caller, unit_id: UnitId) -> None:
        """Refuse now (``PermissionDenied``) a write ``caller`` could not make:
        for protocols that announce a write before sending its bytes (the
        Terraform-Cloud API's upload URLs), so the refusal reaches the client
        where it can print it. The write itself is checked again."""
        await self._authorize(caller, Action.UNIT_WRITE, unit_id)

    async def upload(
        self,
        caller: Caller,
        unit_id: UnitId,
        data: Payload,
        *,
        lock_id: str | None = None,
        force: bool = False,
        create_missing: bool = False,
        owned_lock: bool = False,
        expected_md5: str | None = None,
        expected_head: int | None = None,
    ) -> WriteResult:
        """Make ``data`` the unit's current state.

        Order of checks: permission, size and shape (``InvalidInput``), the
        lock (``LockConflict``; nothing is stored), then the clobber guard: a
        refused write is kept as a quarantined version and ``StateRejected``
        names it. ``expected_md5`` is the hex MD5 the sender says ``data``
        has (``Content-MD5``): the bytes are checked against it before
        anything else about them (``DamagedPayload``), with the MD5 the
        version records anyway, computed beside the parse for a large state.

        ``owned_lock`` is for protocols whose writes cannot carry a lock ID
        (Terraform's s3 and remote backends): with no ``lock_id``, a unit
        locked by a lock this caller's principal acquired
        (``LockInfo.owner``) is written under that lock; anyone else's lock
        still refuses the write.

        ``expected_head`` makes the write conditional: it lands only while
        version ``expected_head`` is still current, else ``ConcurrentUpdate``
        (for a writer that computed ``data`` from that version, like the
        dependency graph's updates: retrying it on a newer head would undo
        the newer write).
        """
        await self._authorize(caller, Action.UNIT_WRITE, unit_id)
        self.check_size(len(data))
        facts = await _read_facts(data, expected_md5)

        async def attempt(current: StateVersion | None, lock_id: str | None) -> WriteResult:
            if expected_head is not None and (current is None or current.number != expected_head):
                raise _HeadMoved
            verdict = guard.judge(current, facts, force=force)
            if verdict.outcome is guard.Outcome.IDEMPOTENT and current is not None:
                return WriteResult(current, changed=False)
            # History says "forced" only when the force mattered, and why.
            unforced = guard.judge(current, facts) if force else verdict
            new = NewVersion(
                facts=facts,
                data=data,
                created=self.clock.now(),
                author=caller.principal.author,
                surface=caller.surface,
                note=(
                    f"forced over the clobber guard: {unforced.reason}"
                    if unforced.outcome is guard.Outcome.REFUSE and verdict is not unforced
                    else ""
                ),
            )
            if verdict.outcome is guard.Outcome.REFUSE:
                quarantined = attrs.evolve(new, quarantined=True, note=verdict.reason)
                kept = await self._commit(unit_id, quarantined, current, lock_id)
                await self._publish(
                    WriteRefused(
                        caller=caller,
                        at=kept.created,
                        unit_id=unit_id,
                        reason=verdict.reason,
                        quarantined=kept.number,
                    )
                )
                raise StateRejected(unit_id, verdict.reason, kept.number)
            return WriteResult(await self._commit(unit_id, new, current, lock_id), changed=True)

        try:
            result = await self._optimistic(
                caller,
                unit_id,
                lock_id,
                attempt,
                create_missing=create_missing,
                owned_lock=owned_lock and lock_id is None,
            )
        except _HeadMoved:
            raise ConcurrentUpdate(unit_id) from None
        if result.changed:
            await self._committed(caller, result.version, lock_id)
        return result

    async def _committed(self, caller: Caller, version: StateVersion, lock_id: str | None) -> None:
        await self._publish(
            StateCommitted(
                caller=caller,
                at=version.created,
                unit_id=version.unit_id,
                version=version,
                lock_id=lock_id,
            )
        )

    async def _optimistic(
        self,
        caller: Caller,
        unit_id: UnitId,
        lock_id: str | None,
        attempt: Callable[[StateVersion | None, str | None], Awaitable[WriteResult]],
        *,
        create_missing: bool = False,
        owned_lock: bool = False,
    ) -> WriteResult:
        """Run ``attempt`` against the current head until its commit lands.

        The lock is checked up front so a refused writer fails before any
        work; the store checks it again atomically with the commit. When
        another writer moves the head in between, the commit raises
        ``ConcurrentUpdate`` and the attempt is re-run on the new head.
        """
        try:
            for _ in range(_MAX_ATTEMPTS):
                try:
                    unit, current = await self.store.unit_and_head(unit_id)
                except UnitNotFound:
                    if not create_missing:
                        raise
                    await self._ensure_unit(caller, unit_id)
                    continue
                effective = lock_id
                if owned_lock and unit.lock is not None and _owns(caller, unit.lock):
                    effective = unit.lock.id
                locks.check_write(unit_id, unit.lock, effective)
                try:
                    return await attempt(current, effective)
                except ConcurrentUpdate:
                    continue
        except LockConflict as exc:
            await self._lock_refused(caller, unit_id, "write", exc)
            raise
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

    async def list_versions(self, caller: Caller, unit_id: UnitId) -> Sequence[StateVersion]:
        """Every kept version, newest first, quarantined ones included."""
        await self._authorize(caller, Action.UNIT_READ_OUTPUTS, unit_id)
        return await self.store.list_versions(unit_id)

    async def version_page(
        self, caller: Caller, unit_id: UnitId, *, offset: int, limit: int
    ) -> VersionPage:
        """Part of the history, newest first (``limit=1``: just the newest),
        without reading the rest of it."""
        await self._authorize(caller, Action.UNIT_READ_OUTPUTS, unit_id)
        return await self.store.version_page(unit_id, offset=offset, limit=limit)

    async def read_version(
        self, caller: Caller, unit_id: UnitId, number: int
    ) -> tuple[StateVersion, bytes]:
        """One version and its bytes (outputs only for an outputs-only caller)."""
        access = await self._read_access(caller, unit_id)
        return await _visible(access, *await self.store.read_version(unit_id, number))

    async def restore(
        self,
        caller: Caller,
        unit_id: UnitId,
        number: int,
        *,
        lock_id: str | None = None,
    ) -> StateVersion:
        """Make version ``number``'s content current again, as a new version.

        The bytes are the old version's with ``serial`` set above every serial
        the unit has seen, so Terraform accepts the restored state as newer
        than anything it holds. Honours the lock like any write.
        """
        await self._authorize(caller, Action.UNIT_WRITE, unit_id)
        old, data = await self.store.read_version(unit_id, number)
        doc = load_object(data)

        async def attempt(current: StateVersion | None, lock_id: str | None) -> WriteResult:
            seen = [v.serial for v in await self.store.list_versions(unit_id)]
            top = max((x for x in [*seen, old.serial] if x is not None), default=-1)
            restored = with_serial(data, doc, top + 1)
            new = NewVersion(
                facts=read_facts(restored),
                data=restored,
                created=self.clock.now(),
                author=caller.principal.author,
                surface=Surface.RESTORE,
                note=f"restored from version {number}",
                restored_from=number,
            )
            return WriteResult(await self._commit(unit_id, new, current, lock_id), changed=True)

        version = (await self._optimistic(caller, unit_id, lock_id, attempt)).version
        await self._committed(caller, version, lock_id)
        return version

    async def diff(
        self,
        caller: Caller,
        unit_id: UnitId,
        from_version: int | None = None,
        to_version: int | None = None,
        *,
        values: bool = False,
    ) -> StateDiff:
        """What changed between two versions (needs full read access: a diff
        shows resources).

        ``to_version`` defaults to the current version; ``from_version`` to the
        newest non-quarantined version before it (or nothing, for the first).
        ``values`` adds the attribute values of changed resources
        (``taco_core.diff``), for a visual diff.
        """
        await self._authorize(caller, Action.UNIT_READ, unit_id)
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
        return diff_states(
            before, after, from_version=from_version, to_version=to_version, values=values
        )


class BoundStateControl:
    """``StateService``'s use cases as the ``StateControl`` port, every call
    made on behalf of one ``Caller``."""

    def __init__(self, service: StateService, caller: Caller) -> None:
        self.service = service
        self.caller = caller

    async def create_unit(self, raw_id: str, labels: Mapping[str, str] | None = None) -> Unit:
        return await self.service.create_unit(self.caller, raw_id, labels)

    async def list_units(self, prefix: str = "", *, deleted: bool = False) -> Sequence[Unit]:
        return await self.service.list_units(self.caller, prefix, deleted=deleted)

    async def get_unit(self, unit_id: UnitId) -> Unit:
        return await self.service.get_unit(self.caller, unit_id)

    async def delete_unit(self, unit_id: UnitId) -> None:
        await self.service.delete_unit(self.caller, unit_id)

    async def undelete_unit(self, unit_id: UnitId) -> Unit:
        return await self.service.undelete_unit(self.caller, unit_id)

    async def update_labels(self, unit_id: UnitId, changes: Mapping[str, str | None]) -> Unit:
        return await self.service.update_labels(self.caller, unit_id, changes)

    async def download(self, unit_id: UnitId) -> tuple[StateVersion, bytes] | None:
        return await self.service.download(self.caller, unit_id)

    async def upload(
        self,
        unit_id: UnitId,
        data: Payload,
        *,
        lock_id: str | None = None,
        force: bool = False,
        create_missing: bool = False,
    ) -> WriteResult:
        return await self.service.upload(
            self.caller, unit_id, data, lock_id=lock_id, force=force, create_missing=create_missing
        )

    async def lock(
        self, unit_id: UnitId, wanted: LockInfo, *, create_missing: bool = False
    ) -> LockInfo:
        return await self.service.lock(self.caller, unit_id, wanted, create_missing=create_missing)

    async def unlock(self, unit_id: UnitId, lock_id: str | None) -> None:
        await self.service.unlock(self.caller, unit_id, lock_id)

    async def list_versions(self, unit_id: UnitId) -> Sequence[StateVersion]:
        return await self.service.list_versions(self.caller, unit_id)

    async def read_version(self, unit_id: UnitId, number: int) -> tuple[StateVersion, bytes]:
        return await self.service.read_version(self.caller, unit_id, number)

    async def restore(
        self, unit_id: UnitId, number: int, *, lock_id: str | None = None
    ) -> StateVersion:
        return await self.service.restore(self.caller, unit_id, number, lock_id=lock_id)

    async def diff(
        self, unit_id: UnitId, from_version: int | None = None, to_version: int | None = None
    ) -> StateDiff:
        return await self.service.diff(self.caller, unit_id, from_version, to_version)


def _owns(caller: Caller, lock: LockInfo) -> bool:
    return bool(lock.owner) and lock.owner == caller.principal.owner_key


def _unit_key(unit: Unit) -> str:
    return unit.id


def _row_key(row: tuple[UnitId, str]) -> str:
    return row[0]


# Redacting parses the whole state; past this size that would stall the event
# loop for every other request, so it runs in a worker thread.
_INLINE_REDACT_LIMIT = 256 * 1024


async def _visible(
    access: ReadAccess, version: StateVersion, data: bytes
) -> tuple[StateVersion, bytes]:
    """The version and bytes a caller with ``access`` may see: unchanged, or
    the outputs-only form with its size and digests (which a client checks
    against the bytes it receives) recomputed."""
    if access is ReadAccess.FULL:
        return version, data
    if len(data) <= _INLINE_REDACT_LIMIT:
        redacted = redact_to_outputs(data)
    else:
        redacted = await anyio.to_thread.run_sync(redact_to_outputs, data)
    facts = read_facts(redacted)
    return (
        attrs.evolve(version, size=facts.size, sha256=facts.sha256, md5=facts.md5),
        redacted,
    )


# Parsing and hashing a large state takes long enough to stall every other
# request if done on the event loop; small ones are cheaper inline.
_INLINE_PARSE_LIMIT = 256 * 1024


async def _read_facts(data: Payload, expected_md5: str | None = None) -> StateFacts:
    """The facts of ``data``; ``DamagedPayload`` first when its MD5 is not
    ``expected_md5`` (a damaged body explains any other fault it has)."""
    if len(data) <= _INLINE_PARSE_LIMIT:
        sha256, md5_hex = fingerprint(data)
        _check_md5(md5_hex, expected_md5)
        return facts_with(outer_fields(data), len(data), sha256, md5_hex)
    # Hashing releases the GIL: it runs on another core beside the parse.
    parsed: list[dict[str, Any] | InvalidState] = []

    async def parse() -> None:
        try:
            parsed.append(await anyio.to_thread.run_sync(outer_fields, data))
        except InvalidState as exc:
            parsed.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(parse)
        sha256, md5_hex = await anyio.to_thread.run_sync(fingerprint, data)
    _check_md5(md5_hex, expected_md5)
    if isinstance(parsed[0], InvalidState):
        raise parsed[0]
    return facts_with(parsed[0], len(data), sha256, md5_hex)


def _check_md5(actual: str, expected: str | None) -> None:
    if expected is not None and actual != expected.lower():
        raise DamagedPayload(expected, actual)


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
