"""The audit trail in the core: events become records, IDs sort by time,
queries are checked, and the recorder groups appends without losing any."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from taco_adapters.clock import ManualClock
from taco_adapters.memory import MemoryAuditLog, MemoryStateStore
from taco_core.audit import (
    MAX_PAGE,
    AuditAction,
    AuditQuery,
    AuditRecord,
    audit_record,
    id_floor,
    new_record_id,
)
from taco_core.audit_service import AuditService
from taco_core.auth import ApiToken, Principal, PrincipalKind
from taco_core.caller import SYSTEM_CALLER, Caller
from taco_core.directory import Organization, User
from taco_core.errors import InvalidInput, LockConflict, PermissionDenied, StorageUnavailable
from taco_core.event_bus import EventBus
from taco_core.events import (
    AccessDenied,
    Event,
    LockRefused,
    OrganizationCreated,
    RbacChanged,
    TokenCreated,
    TokenRevoked,
    UnitLabelsChanged,
    UnitStatusChanged,
    UserAdded,
    WriteRefused,
)
from taco_core.graph_status import Colour
from taco_core.model import LockInfo, Surface, Unit, UnitId
from taco_core.service import StateService

ALICE = Caller(
    Principal(subject="alice", kind=PrincipalKind.API_TOKEN, token_id="tok-1"),
    Surface.BACKEND,
    origin="10.1.2.3",
    request_id="req-42",
)
BOB = Caller(Principal(subject="bob", kind=PrincipalKind.USER), Surface.API)
STATE = b'{"version": 4, "serial": %d, "lineage": "lin", "outputs": {}, "resources": []}'
U = UnitId("app/prod")

times = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
)


class RecordingLog(MemoryAuditLog):
    """The memory log, remembering each append's batch; it can be told to fail."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[AuditRecord]] = []
        self.failing = False
        self.appended = anyio.Event()

    async def append(self, records: Sequence[AuditRecord]) -> None:
        if self.failing:
            raise StorageUnavailable("the audit storage is down")
        self.batches.append(list(records))
        await super().append(records)
        self.appended.set()

    async def all(self) -> list[AuditRecord]:
        return list((await self.query(AuditQuery(limit=MAX_PAGE))).records)


class DenyAll:
    """An AccessControl that refuses everything, naming the rule."""

    async def check(self, principal: Principal, action: str, resource: str) -> object:
        raise PermissionDenied(action, resource, "no rule allows it")

    async def filter(self, principal, action, items, key):
        return []

    async def read_access(self, principal, unit_id):
        raise PermissionDenied("unit.read", unit_id, "no rule allows it")


def actions(records: Iterable[AuditRecord]) -> list[str]:
    return [r.action for r in records]


async def test_every_state_use_case_leaves_its_record() -> None:
    """Create, lock, write, refused write, restore, unlock, force-unlock, delete
    and undelete each leave one record with who, what and from where."""
    log = RecordingLog()
    clock = ManualClock(datetime(2026, 5, 1, tzinfo=UTC))
    bus = EventBus()
    bus.subscribe(AuditService(log, clock))
    states = StateService(MemoryStateStore(), clock, events=bus)

    await states.create_unit(ALICE, U)
    held = await states.lock(ALICE, U, LockInfo(id="L1", operation="OperationTypeApply", who="a@h"))
    await states.upload(ALICE, U, STATE % 1, lock_id="L1")
    await states.upload(ALICE, U, STATE % 2, lock_id="L1")
    with pytest.raises(LockConflict):
        await states.upload(BOB, U, STATE % 3)
    await states.restore(ALICE, U, 1, lock_id="L1")
    await states.unlock(ALICE, U, held.id)
    await states.lock(BOB, U, LockInfo(id="L2"))
    await states.unlock(ALICE, U, None)
    await states.delete_unit(ALICE, U)
    await states.undelete_unit(ALICE, U)

    records = await log.all()
    assert actions(records) == [
        AuditAction.CREATE,
        AuditAction.LOCK,
        AuditAction.STATE_WRITE,
        AuditAction.STATE_WRITE,
        AuditAction.LOCK_REFUSED,
        AuditAction.RESTORE,
        AuditAction.UNLOCK,
        AuditAction.LOCK,
        AuditAction.FORCE_UNLOCK,
        AuditAction.DELETE,
        AuditAction.UNDELETE,
    ]
    first_write = records[2]
    assert (first_write.subject, first_write.principal_kind, first_write.token_id) == (
        "alice",
        "api_token",
        "tok-1",
    )
    assert (first_write.origin, first_write.surface, first_write.request_id) == (
        "10.1.2.3",
        "backend",
        "req-42",
    )
    assert (first_write.unit_id, first_write.version, first_write.lock_id) == (U, 1, "L1")
    assert records[1].detail == "OperationTypeApply a@h"
    assert (records[4].subject, records[4].lock_id) == ("bob", "L1")
    assert records[4].detail == "write refused: the unit is locked by a@h"
    assert (records[5].version, records[5].detail) == (3, "restored from version 1")
    assert (records[8].lock_id, records[8].subject) == ("L2", "alice")


def test_refusals_and_denials_name_the_version_and_the_rule() -> None:
    """A quarantined write names its version and reason; a denial its action and rule."""
    at = datetime(2026, 5, 1, tzinfo=UTC)
    refused = audit_record(
        WriteRefused(caller=ALICE, at=at, unit_id=U, reason="lineage differs", quarantined=4)
    )
    assert refused is not None
    assert (refused.action, refused.version, refused.detail) == (
        AuditAction.STATE_REFUSED,
        4,
        "lineage differs",
    )
    denied = audit_record(
        AccessDenied(caller=BOB, at=at, action="unit.write", resource=U, reason="role reader")
    )
    assert denied is not None
    assert (denied.action, denied.unit_id, denied.detail) == (
        AuditAction.ACCESS_DENIED,
        U,
        "unit.write: role reader",
    )
    global_denial = audit_record(
        AccessDenied(caller=BOB, at=at, action="rbac.manage", resource="*", reason="")
    )
    assert global_denial is not None and global_denial.unit_id == ""
    unlock_refused = audit_record(
        LockRefused(caller=BOB, at=at, unit_id=U, operation="unlock", holder=None)
    )
    assert unlock_refused is not None and unlock_refused.lock_id == ""


def test_token_and_rbac_events_name_what_they_touched() -> None:
    """A token's record names its ID, name and subject (never its secret); a
    policy change its operation, what it touched and the policy's version."""
    at = datetime(2026, 5, 1, tzinfo=UTC)
    token = ApiToken(
        id="t1", name="ci", secret_hash="never-shown", subject="ci-dev", created=at, roles=["r"]
    )
    created = audit_record(TokenCreated(caller=ALICE, at=at, token=token))
    assert created is not None
    assert (created.action, created.subject, created.token_id, created.detail) == (
        AuditAction.TOKEN_CREATE,
        "alice",
        "tok-1",
        "token t1 'ci' of subject 'ci-dev'; narrowed to roles r",
    )
    revoked = audit_record(TokenRevoked(caller=BOB, at=at, token=token))
    assert revoked is not None
    assert (revoked.action, revoked.detail) == (
        AuditAction.TOKEN_REVOKE,
        "token t1 'ci' of subject 'ci-dev'",
    )
    assert "never-shown" not in created.detail + revoked.detail
    changed = audit_record(
        RbacChanged(caller=BOB, at=at, operation="permission_created", version=7, permission="p")
    )
    assert changed is not None
    assert (changed.action, changed.version, changed.unit_id, changed.detail) == (
        AuditAction.RBAC_CHANGE,
        7,
        "",
        "permission_created: permission 'p'",
    )


def test_labels_organizations_and_members_are_recorded() -> None:
    """A labels change names the unit and its labels now (long ones cut); an
    organization its name, ID and external ID; a member the organization and
    whether they were known already."""
    at = datetime(2026, 5, 1, tzinfo=UTC)
    tagged = Unit(id=U, created=at, updated=at, labels={"team": "pay", "pci": ""})
    labels = audit_record(UnitLabelsChanged(caller=ALICE, at=at, unit=tagged))
    assert labels is not None
    assert (labels.action, labels.unit_id, labels.surface, labels.detail) == (
        AuditAction.LABELS,
        "app/prod",
        "backend",
        "labels now: pci, team=pay",
    )
    many = Unit(id=U, created=at, updated=at, labels={f"k{n:04d}": "v" * 20 for n in range(500)})
    cut = audit_record(UnitLabelsChanged(caller=ALICE, at=at, unit=many))
    assert cut is not None and len(cut.detail) <= 1100 and cut.detail.endswith("…")
    bare = audit_record(UnitLabelsChanged(caller=ALICE, at=at, unit=Unit(U, at, at)))
    assert bare is not None and bare.detail == "labels now: none"
    org = Organization(
        id="o-1", name="acme", display_name="Acme", created_at=at, external_id="org_9"
    )
    made = audit_record(OrganizationCreated(caller=BOB, at=at, organization=org))
    assert made is not None
    assert (made.action, made.subject, made.unit_id, made.detail) == (
        AuditAction.ORGANIZATION_CREATE,
        "bob",
        "",
        "organization 'acme' (o-1); external ID 'org_9'",
    )
    dave = User(subject="dave", created_at=at, organizations=("o-1",))
    added = audit_record(UserAdded(caller=BOB, at=at, organization=org, user=dave, created=True))
    again = audit_record(UserAdded(caller=BOB, at=at, organization=org, user=dave, created=False))
    assert added is not None and again is not None
    assert (added.action, added.detail) == (
        AuditAction.USER_ADD,
        "user 'dave' to organization 'acme' (o-1)",
    )
    assert again.detail == "user 'dave' to organization 'acme' (o-1); already known"


def test_status_changes_are_left_out() -> None:
    """A dependency colour the graph derives is no one's action: no record."""
    at = datetime(2026, 5, 1, tzinfo=UTC)
    changed = UnitStatusChanged(
        caller=SYSTEM_CALLER,
        at=at,
        unit_id="app/b",
        before=Colour.GREEN,
        after=Colour.RED,
        cause=None,
    )
    assert audit_record(changed) is None


def test_an_unknown_event_is_left_out() -> None:
    """Events the trail does not know (a bare Event) make no record."""
    assert audit_record(Event(caller=ALICE, at=datetime(2026, 1, 1, tzinfo=UTC))) is None


@given(times, times)
def test_record_ids_sort_like_their_times(a: datetime, b: datetime) -> None:
    """IDs compare as their times do; id_floor(t) sits between earlier IDs and t's."""
    ia, ib = new_record_id(a), new_record_id(b)
    if a < b:
        assert ia < ib
        assert ia < id_floor(b) <= ib
    elif b < a:
        assert ib < ia
    assert id_floor(a) < ia


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"since": datetime(2026, 1, 1)}, "time zone"),
        ({"after": "20260101"}, "invalid cursor"),
        ({"limit": 0}, "between 1 and"),
        ({"limit": MAX_PAGE + 1}, "between 1 and"),
        ({"unit": "x" * 2000}, "at most"),
        ({"subject": "bad \ud800 text"}, "valid Unicode"),
    ],
)
def test_bad_queries_are_invalid_input(kwargs: dict[str, object], message: str) -> None:
    """A query that cannot mean anything is refused with the reason."""
    with pytest.raises(InvalidInput, match=message):
        AuditQuery(**kwargs)  # type: ignore[arg-type]


async def test_batching_groups_records_and_flushes_at_the_end() -> None:
    """Inside batching() records wait and go in one append; leaving flushes the rest."""
    log = RecordingLog()
    audit = AuditService(log, ManualClock(), max_delay=60)
    at = datetime(2026, 5, 1, tzinfo=UTC)
    async with audit.batching():
        for i in range(5):
            await audit.publish(
                WriteRefused(caller=ALICE, at=at, unit_id=U, reason="r", quarantined=i)
            )
        assert log.batches == []
    assert [len(b) for b in log.batches] == [5]


async def test_the_writer_appends_within_the_delay() -> None:
    """A queued record is appended by the writer task without any flush call."""
    log = RecordingLog()
    audit = AuditService(log, ManualClock(), max_delay=0.01)
    at = datetime(2026, 5, 1, tzinfo=UTC)
    async with audit.batching():
        await audit.publish(WriteRefused(caller=ALICE, at=at, unit_id=U, reason="r", quarantined=1))
        with anyio.fail_after(5):
            await log.appended.wait()
    assert [len(b) for b in log.batches] == [1]


async def test_a_query_sees_queued_records() -> None:
    """query flushes first: what was published before it is in the answer."""
    log = RecordingLog()
    audit = AuditService(log, ManualClock(), max_delay=60)
    at = datetime(2026, 5, 1, tzinfo=UTC)
    async with audit.batching():
        await audit.publish(WriteRefused(caller=ALICE, at=at, unit_id=U, reason="r", quarantined=1))
        page = await audit.query(SYSTEM_CALLER, AuditQuery())
    assert actions(page.records) == [AuditAction.STATE_REFUSED]


async def test_a_failed_append_keeps_the_records_for_the_next_try() -> None:
    """While the storage refuses, records stay queued (and it is reported); they
    are appended once it works again, none twice."""
    log = RecordingLog()
    reports: list[str] = []
    audit = AuditService(log, ManualClock(), max_delay=60, report=reports.append)
    at = datetime(2026, 5, 1, tzinfo=UTC)
    async with audit.batching():
        await audit.publish(WriteRefused(caller=ALICE, at=at, unit_id=U, reason="r", quarantined=1))
        log.failing = True
        with pytest.raises(StorageUnavailable):
            await audit.flush()
        await audit.publish(WriteRefused(caller=ALICE, at=at, unit_id=U, reason="r", quarantined=2))
        log.failing = False
    assert [r.version for r in await log.all()] == [1, 2]


async def test_a_batch_the_storage_cannot_take_is_dropped_not_retried() -> None:
    """A failure other than an unavailable storage (which no retry cures) drops
    the batch and says so, so it cannot block the records after it."""

    class Broken(RecordingLog):
        async def append(self, records: Sequence[AuditRecord]) -> None:
            if any(r.version == 1 for r in records):
                raise RuntimeError("cannot store this")
            await super().append(records)

    log = Broken()
    reports: list[str] = []
    audit = AuditService(log, ManualClock(), max_delay=60, report=reports.append)
    at = datetime(2026, 5, 1, tzinfo=UTC)
    await audit.publish(WriteRefused(caller=ALICE, at=at, unit_id=U, reason="r", quarantined=9))
    async with audit.batching():
        await audit.publish(WriteRefused(caller=ALICE, at=at, unit_id=U, reason="r", quarantined=1))
        with pytest.raises(RuntimeError):
            await audit.flush()
        await audit.publish(WriteRefused(caller=ALICE, at=at, unit_id=U, reason="r", quarantined=2))
    assert [r.version for r in await log.all()] == [9, 2]


def test_text_no_store_can_keep_is_replaced() -> None:
    """A lone surrogate a client spelled in JSON becomes '?' in the record."""
    at = datetime(2026, 5, 1, tzinfo=UTC)
    lock = LockInfo(id="L\ud800", who="me\udfff")
    record = audit_record(
        LockRefused(caller=ALICE, at=at, unit_id=U, operation="lock", holder=lock)
    )
    assert record is not None
    assert (record.lock_id, record.detail) == ("L?", "lock refused: the unit is locked by me?")


async def test_a_full_backlog_drops_the_oldest_and_says_so() -> None:
    """Beyond max_pending queued records the oldest go, and the report counts them."""
    log = RecordingLog()
    reports: list[str] = []
    audit = AuditService(log, ManualClock(), max_delay=60, max_pending=3, report=reports.append)
    at = datetime(2026, 5, 1, tzinfo=UTC)
    async with audit.batching():
        for i in range(5):
            await audit.publish(
                WriteRefused(caller=ALICE, at=at, unit_id=U, reason="r", quarantined=i)
            )
    assert [r.version for r in await log.all()] == [2, 3, 4]
    assert len(reports) == 2
    assert all("1 record(s) dropped" in line for line in reports)


async def test_without_batching_a_record_is_stored_before_publish_returns() -> None:
    """Outside batching() (embedded use) publish appends at once."""
    log = RecordingLog()
    audit = AuditService(log, ManualClock())
    at = datetime(2026, 5, 1, tzinfo=UTC)
    await audit.publish(WriteRefused(caller=ALICE, at=at, unit_id=U, reason="r", quarantined=1))
    assert [len(b) for b in log.batches] == [1]


async def test_reading_the_trail_needs_audit_read_and_a_refusal_is_recorded() -> None:
    """query asks audit.read on '*'; a refused reader gets PermissionDenied and
    the refusal is itself in the trail."""
    log = RecordingLog()
    bus = EventBus()
    audit = AuditService(log, ManualClock(), access=DenyAll(), events=bus)
    bus.subscribe(audit)
    with pytest.raises(PermissionDenied) as refused:
        await audit.query(BOB, AuditQuery())
    assert (refused.value.action, refused.value.resource) == ("audit.read", "*")
    page = await audit.query(SYSTEM_CALLER, AuditQuery())
    assert [(r.action, r.subject, r.detail) for r in page.records] == [
        (AuditAction.ACCESS_DENIED, "bob", "audit.read: no rule allows it")
    ]


async def test_retention_purges_what_is_older() -> None:
    """purge_expired(retention) forgets records older than now - retention."""
    log = RecordingLog()
    clock = ManualClock(datetime(2026, 5, 1, tzinfo=UTC))
    audit = AuditService(log, clock)
    for days in (400, 10):
        at = clock.now() - timedelta(days=days)
        await audit.publish(
            WriteRefused(caller=ALICE, at=at, unit_id=U, reason="r", quarantined=days)
        )
    assert await audit.purge_expired(timedelta(days=365)) == 1
    assert [r.version for r in await log.all()] == [10]
