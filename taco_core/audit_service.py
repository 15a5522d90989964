"""The audit trail's use cases: record what the other use cases publish,
answer queries from those allowed to read it, forget what is past retention.

``AuditService`` is an ``EventSink``: subscribed to the event bus, it turns
each event into an ``AuditRecord`` (``taco_core.audit.audit_record``) and
appends it to an ``AuditLog``.

Why records are written in groups: a durable append costs a storage round
trip (an fsync on SQLite, a PUT on S3), and adding one to every state write
would double its latency. Inside ``batching()`` an event only queues its
record; a writer task appends what gathered within ``max_delay`` as one
batch, and flushes the rest when ``batching()`` ends (service shutdown).
The price is a crash window: records of the last ``max_delay`` (plus one
append) before a crash of the process are lost, while the writes they
describe are not. Outside ``batching()`` every record is appended before
``publish`` returns (the CLI's embedded mode, tests).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import anyio

from taco_core.access import ALLOW_ALL, AccessControl
from taco_core.audit import AuditPage, AuditQuery, AuditRecord, audit_record
from taco_core.caller import Caller
from taco_core.errors import PermissionDenied, StorageUnavailable
from taco_core.events import AccessDenied, Event
from taco_core.ports import AuditLog, AuditTrail, Clock, EventSink
from taco_core.rbac import GLOBAL_RESOURCE, Action

__all__ = ["AuditService"]

# How long a record may wait for others to share its append.
DEFAULT_MAX_DELAY = 0.25
# Records kept queued while the storage refuses them; beyond this the oldest
# are dropped (and reported) rather than the service running out of memory.
DEFAULT_MAX_PENDING = 10_000
# A failing storage is retried after growing pauses, up to this long.
_MAX_BACKOFF = 30.0
# How long shutdown waits for the last records when the writer was cancelled.
_LAST_FLUSH_SECONDS = 10.0


class AuditService:
    """Records events, answers queries and applies retention over an ``AuditLog``.

    ``access`` decides who may read the trail (``audit.read`` on ``*``,
    which ``rbac.manage`` implies);
    a refusal is published on ``events`` like any other. ``report`` receives
    a sentence whenever records could not be written (the composition root
    logs it): the trail never fails the use case it records.
    """

    def __init__(
        self,
        log: AuditLog,
        clock: Clock,
        *,
        access: AccessControl = ALLOW_ALL,
        events: EventSink | None = None,
        report: Callable[[str], None] | None = None,
        max_delay: float = DEFAULT_MAX_DELAY,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self.log = log
        self.clock = clock
        self.access = access
        self.events = events
        self.max_delay = max_delay
        self.max_pending = max_pending
        self._report = report or (lambda message: None)
        self._pending: list[AuditRecord] = []
        self._wake = anyio.Event()
        self._stopped = anyio.Event()
        self._flushing = anyio.Lock()
        self._batching = False
        self._stopping = False

    # -- recording ---------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        """Record ``event`` (queued while ``batching``, else appended now)."""
        record = audit_record(event)
        if record is None:
            return
        if not self._batching:
            await self.log.append([record])
            return
        self._pending.append(record)
        excess = len(self._pending) - self.max_pending
        if excess > 0:
            del self._pending[:excess]
            self._report(
                f"audit log: {excess} record(s) dropped, the storage has refused appends "
                f"while {self.max_pending} records waited"
            )
        self._wake.set()

    async def flush(self) -> None:
        """Append every queued record now. When the storage is unavailable
        they stay queued for the next try; any other failure (which a retry
        could not cure) drops them, so one bad batch cannot block the trail."""
        async with self._flushing:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                await self.log.append(batch)
            except Exception as exc:
                if isinstance(exc, StorageUnavailable):
                    self._requeue(batch)
                raise
            except BaseException:
                self._requeue(batch)  # cancelled: the next flush tries again
                raise

    def _requeue(self, batch: list[AuditRecord]) -> None:
        # Appends are idempotent per record, so a retry of the whole batch
        # cannot duplicate the part that was stored.
        self._pending[:0] = batch

    @contextlib.asynccontextmanager
    async def batching(self) -> AsyncIterator[None]:
        """Queue records and append them in groups while inside; everything
        queued is appended before this returns."""
        self._stopping = False
        self._stopped = anyio.Event()
        try:
            async with anyio.create_task_group() as tg:
                self._batching = True
                tg.start_soon(self._write_forever)
                try:
                    yield
                finally:
                    self._batching = False
                    self._stopping = True
                    self._stopped.set()
                    self._wake.set()
        finally:
            if self._pending:
                await self._last_flush()

    async def _write_forever(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            if not self._stopping:
                await anyio.sleep(self.max_delay)  # let a group gather
            try:
                await self.flush()
            except StorageUnavailable as exc:
                failures += 1
                self._report(
                    f"audit log: could not append {len(self._pending)} record(s): {exc}; "
                    + ("giving up at shutdown" if self._stopping else "retrying")
                )
                if self._stopping:
                    return
                with anyio.move_on_after(min(self.max_delay * 2**failures, _MAX_BACKOFF)):
                    await self._stopped.wait()  # shutdown retries at once, and only once
                self._wake.set()
                continue
            except Exception as exc:
                self._report(f"audit log: a batch of records was dropped: {exc!r}")
            failures = 0
            if self._stopping:
                return

    async def _last_flush(self) -> None:
        """The writer was cancelled with records queued: one bounded try."""
        with anyio.move_on_after(_LAST_FLUSH_SECONDS, shield=True):
            try:
                await self.flush()
            except Exception as exc:
                self._report(f"audit log: {len(self._pending)} record(s) lost at shutdown: {exc}")

    # -- reading -------------------------------------------------------------------

    def reading_as(self, caller: Caller) -> AuditTrail:
        """``query`` as the ``AuditTrail`` port, on behalf of ``caller``."""
        return BoundAuditTrail(self, caller)

    async def query(self, caller: Caller, query: AuditQuery) -> AuditPage:
        """The records ``query`` selects (see ``AuditLog.query``), including
        every one queued so far. Needs ``audit.read`` on every unit (``*``):
        the trail names everyone and where they called from, so it is not
        cut per unit."""
        await self._authorize(caller)
        await self.flush()
        return await self.log.query(query)

    async def _authorize(self, caller: Caller) -> None:
        if caller.is_system:
            return
        try:
            await self.access.check(caller.principal, Action.AUDIT_READ, GLOBAL_RESOURCE)
        except PermissionDenied as exc:
            if self.events is not None:
                await self.events.publish(
                    AccessDenied(
                        caller=caller,
                        at=self.clock.now(),
                        action=Action.AUDIT_READ,
                        resource=GLOBAL_RESOURCE,
                        reason=exc.reason,
                    )
                )
            raise

    # -- retention -------------------------------------------------------------------

    async def purge_expired(self, retention: timedelta) -> int:
        """Forget records older than ``retention``; return how many."""
        try:
            cutoff = self.clock.now() - retention
        except OverflowError:
            return 0  # a retention longer than the calendar: nothing is that old
        await self.flush()  # queued records are past the cutoff too, when old enough
        return await self.log.purge(cutoff)


class BoundAuditTrail:
    """``AuditService.query`` as the ``AuditTrail`` port, for one caller."""

    def __init__(self, service: AuditService, caller: Caller) -> None:
        self.service = service
        self.caller = caller

    async def query(self, query: AuditQuery) -> AuditPage:
        return await self.service.query(self.caller, query)
