"""The service's seams: every use case asks its AccessControl first, and
publishes what happened on its EventBus afterwards."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import TypeVar

import pytest

from taco_adapters.clock import ManualClock
from taco_adapters.memory import MemoryStateStore
from taco_core.access import ReadAccess
from taco_core.auth import Principal, PrincipalKind
from taco_core.caller import SYSTEM_CALLER, Caller
from taco_core.errors import LockConflict, PermissionDenied, StateRejected
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
    WriteRefused,
)
from taco_core.model import LockInfo, Surface, UnitId
from taco_core.service import StateService

T = TypeVar("T")
U = UnitId("dev/app")
P = UnitId("prod/app")


def caller(subject: str, surface: Surface = Surface.API) -> Caller:
    return Caller(Principal(subject=subject, kind=PrincipalKind.USER), surface, origin="10.0.0.7")


ALICE = caller("alice")
BOB = caller("bob", Surface.BACKEND)


def tfstate(serial: int, lineage: str = "L1") -> bytes:
    doc = {
        "version": 4,
        "terraform_version": "1.15.5",
        "serial": serial,
        "lineage": lineage,
        "outputs": {
            "url": {"value": "https://x", "type": "string"},
            "password": {"value": "hunter2", "type": "string", "sensitive": True},
        },
        "resources": [{"mode": "managed", "type": "null_resource", "name": "n", "instances": []}],
    }
    return json.dumps(doc, indent=2).encode()


class TableAccess:
    """An AccessControl fake: ``grants[(subject, action)]`` is the set of unit
    IDs allowed; ``outputs_only`` units may only have their outputs read."""

    def __init__(self) -> None:
        self.grants: dict[tuple[str, str], set[str]] = {}
        self.asked: list[tuple[str, str, str]] = []

    def grant(self, subject: str, action: str, *units: str) -> None:
        self.grants.setdefault((subject, action), set()).update(units)

    def _allowed(self, principal: Principal, action: str, resource: str) -> bool:
        units = self.grants.get((principal.subject, action), set())
        if action == "unit.read_outputs" and self._allowed(principal, "unit.read", resource):
            return True
        return resource in units or "*" in units

    async def check(self, principal: Principal, action: str, resource: str) -> object:
        self.asked.append((principal.subject, action, resource))
        if not self._allowed(principal, action, resource):
            raise PermissionDenied(action, resource, "no matching allow")
        return None

    async def filter(
        self, principal: Principal, action: str, items: Iterable[T], key: Callable[[T], str]
    ) -> list[T]:
        return [i for i in items if self._allowed(principal, action, key(i))]

    async def read_access(self, principal: Principal, unit_id: str) -> ReadAccess:
        if self._allowed(principal, "unit.read", unit_id):
            return ReadAccess.FULL
        if self._allowed(principal, "unit.read_outputs", unit_id):
            return ReadAccess.OUTPUTS_ONLY
        raise PermissionDenied("unit.read", unit_id, "no matching allow")


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
def access() -> TableAccess:
    return TableAccess()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def svc(access: TableAccess, recorder: Recorder) -> StateService:
    return StateService(
        MemoryStateStore(), ManualClock(), access=access, events=EventBus([recorder])
    )


async def seed(svc: StateService, unit_id: UnitId, serial: int = 1) -> None:
    await svc.upload(SYSTEM_CALLER, unit_id, tfstate(serial), create_missing=True)


async def test_a_denied_write_changes_nothing_and_says_why(
    svc: StateService, access: TableAccess, recorder: Recorder
) -> None:
    """Without unit.write the upload is refused before anything is read or
    stored, and the refusal is published for the audit trail."""
    await seed(svc, P)
    access.grant("alice", "unit.write", "dev/*", U)
    with pytest.raises(PermissionDenied) as denied:
        await svc.upload(ALICE, P, tfstate(2))
    assert (denied.value.action, denied.value.resource) == ("unit.write", P)
    assert "unit.write" in denied.value.message and P in denied.value.message
    found = await svc.download(SYSTEM_CALLER, P)
    assert found is not None and found[0].serial == 1
    [event] = recorder.of(AccessDenied)
    assert isinstance(event, AccessDenied)
    assert (event.caller, event.action, event.resource) == (ALICE, "unit.write", P)


@pytest.mark.parametrize(
    ("call", "action"),
    [
        (lambda s, c: s.create_unit(c, "prod/new"), "unit.write"),
        (lambda s, c: s.get_unit(c, P), "unit.read_outputs"),
        (lambda s, c: s.delete_unit(c, P), "unit.delete"),
        (lambda s, c: s.undelete_unit(c, P), "unit.write"),
        (lambda s, c: s.lock(c, P, LockInfo(id="L")), "unit.lock"),
        (lambda s, c: s.unlock(c, P, None), "unit.lock"),
        (lambda s, c: s.download(c, P), "unit.read"),
        (lambda s, c: s.list_versions(c, P), "unit.read_outputs"),
        (lambda s, c: s.read_version(c, P, 1), "unit.read"),
        (lambda s, c: s.restore(c, P, 1), "unit.write"),
        (lambda s, c: s.update_labels(c, P, {"app": "x"}), "unit.write"),
        (lambda s, c: s.check_write(c, P), "unit.write"),
        (lambda s, c: s.diff(c, P), "unit.read"),
    ],
)
async def test_every_use_case_asks_before_it_acts(
    svc: StateService, recorder: Recorder, call: Callable[..., object], action: str
) -> None:
    """Each use case names the action it needs and refuses a caller with no grants."""
    await seed(svc, P)
    before = await svc.list_versions(SYSTEM_CALLER, P)
    with pytest.raises(PermissionDenied) as denied:
        await call(svc, ALICE)  # type: ignore[misc]
    assert denied.value.action == action
    assert await svc.list_versions(SYSTEM_CALLER, P) == before
    assert (await svc.get_unit(SYSTEM_CALLER, P)).lock is None


async def test_lists_leave_out_what_the_caller_cannot_see(
    svc: StateService, access: TableAccess
) -> None:
    """Listing filters by read access, outputs-only units included."""
    for unit_id in ("dev/a", "dev/b", "prod/a", "prod/b"):
        await seed(svc, UnitId(unit_id))
    access.grant("alice", "unit.read", "dev/a", "dev/b")
    access.grant("alice", "unit.read_outputs", "prod/b")
    assert [u.id for u in await svc.list_units(ALICE)] == ["dev/a", "dev/b", "prod/b"]
    assert [u.id for u in await svc.list_units(BOB)] == []
    assert len(await svc.list_units(SYSTEM_CALLER)) == 4


async def test_outputs_only_reads_get_a_redacted_state_with_matching_digests(
    svc: StateService, access: TableAccess
) -> None:
    """A caller with only unit.read_outputs reads the non-sensitive outputs and
    no resources; the version record describes the bytes actually returned."""
    await seed(svc, P, serial=3)
    access.grant("bob", "unit.read_outputs", P)
    found = await svc.download(BOB, P)
    assert found is not None
    version, data = found
    doc = json.loads(data)
    assert doc["resources"] == [] and doc["serial"] == 3 and doc["lineage"] == "L1"
    assert set(doc["outputs"]) == {"url"}
    assert b"hunter2" not in data
    assert version.size == len(data)
    assert version.sha256 == hashlib.sha256(data).hexdigest()
    old_version, old_data = await svc.read_version(BOB, P, version.number)
    assert old_data == data and old_version.sha256 == version.sha256
    with pytest.raises(PermissionDenied):
        await svc.diff(BOB, P)


async def test_the_system_caller_is_never_refused(svc: StateService, access: TableAccess) -> None:
    """The service's own work passes SYSTEM_CALLER and is never asked about."""
    await seed(svc, P)
    await svc.restore(SYSTEM_CALLER, P, 1)
    assert access.asked == []


async def test_writes_publish_who_wrote_what(
    svc: StateService, access: TableAccess, recorder: Recorder
) -> None:
    """A first write publishes the unit's creation and the commit, with the
    caller; history records the caller as author and its surface."""
    access.grant("bob", "unit.write", "*")
    result = await svc.upload(BOB, P, tfstate(1), create_missing=True)
    [created] = recorder.of(UnitCreated)
    [committed] = recorder.of(StateCommitted)
    assert isinstance(created, UnitCreated) and created.unit.id == P and created.caller == BOB
    assert isinstance(committed, StateCommitted)
    assert committed.version == result.version and committed.caller == BOB
    assert (result.version.author, result.version.surface) == ("bob", Surface.BACKEND)
    # Writing the same state again changes nothing and publishes nothing.
    again = await svc.upload(BOB, P, tfstate(1))
    assert not again.changed
    assert len(recorder.of(StateCommitted)) == 1


async def test_refusals_are_published_with_their_evidence(
    svc: StateService, recorder: Recorder
) -> None:
    """A clobbered write names its quarantined version; a lock conflict names the holder."""
    await seed(svc, P, serial=5)
    with pytest.raises(StateRejected) as rejected:
        await svc.upload(SYSTEM_CALLER, P, tfstate(4))
    [refused] = recorder.of(WriteRefused)
    assert isinstance(refused, WriteRefused)
    assert refused.quarantined == rejected.value.quarantined
    held = await svc.lock(SYSTEM_CALLER, P, LockInfo(id="L1", who="ci"))
    with pytest.raises(LockConflict):
        await svc.lock(SYSTEM_CALLER, P, LockInfo(id="L2", who="me"))
    with pytest.raises(LockConflict):
        await svc.upload(SYSTEM_CALLER, P, tfstate(6), lock_id="L2")
    conflicts = recorder.of(LockRefused)
    assert [(e.operation, e.holder) for e in conflicts] == [  # type: ignore[attr-defined]
        ("lock", held),
        ("write", held),
    ]


async def test_lock_events_tell_a_release_from_a_force(
    svc: StateService, recorder: Recorder
) -> None:
    """Acquiring, releasing and forcing a lock are published; a forced release
    names the lock it broke; unlocking an unlocked unit publishes nothing."""
    await seed(svc, P)
    held = await svc.lock(SYSTEM_CALLER, P, LockInfo(id="L1", who="ci"))
    await svc.unlock(SYSTEM_CALLER, P, "L1")
    await svc.lock(SYSTEM_CALLER, P, LockInfo(id="L2", who="ci"))
    await svc.unlock(SYSTEM_CALLER, P, None)
    await svc.unlock(SYSTEM_CALLER, P, None)
    assert [e.lock.id for e in recorder.of(LockAcquired)] == ["L1", "L2"]  # type: ignore[attr-defined]
    released = recorder.of(LockReleased)
    assert [(e.forced, e.holder.id) for e in released] == [(False, "L1"), (True, "L2")]  # type: ignore[attr-defined]
    assert held.id == "L1"


async def test_delete_is_published(svc: StateService, recorder: Recorder) -> None:
    """A soft delete is published with the unit it hid."""
    await seed(svc, P)
    await svc.delete_unit(SYSTEM_CALLER, P)
    [deleted] = recorder.of(UnitDeleted)
    assert isinstance(deleted, UnitDeleted) and deleted.unit_id == P


async def test_a_failing_listener_neither_fails_the_use_case_nor_starves_others() -> None:
    """The bus reports a sink's failure to on_error and still delivers to the next sink."""
    failures: list[tuple[object, Event, Exception]] = []
    after = Recorder()

    class Broken:
        async def publish(self, event: Event) -> None:
            raise RuntimeError("disk full")

    broken = Broken()
    bus = EventBus([broken, after], on_error=lambda s, e, x: failures.append((s, e, x)))
    svc = StateService(MemoryStateStore(), ManualClock(), events=bus)
    result = await svc.upload(SYSTEM_CALLER, P, tfstate(1), create_missing=True)
    assert result.changed
    assert len(after.of(StateCommitted)) == 1
    assert [(s, str(x)) for s, _, x in failures] == [(broken, "disk full")] * 2


async def test_a_lock_remembers_its_owner_and_lets_only_it_write_without_an_id(
    svc: StateService, access: TableAccess
) -> None:
    """Protocols that cannot send a lock ID (owned_lock) write under a lock
    their own principal holds; another principal's lock still refuses them."""
    await seed(svc, P)
    for subject in ("alice", "bob"):
        access.grant(subject, "unit.lock", "*")
        access.grant(subject, "unit.write", "*")
        access.grant(subject, "unit.read", "*")
    held = await svc.lock(ALICE, P, LockInfo(id="L1", who="tf", owner="forged"))
    assert held.owner == ALICE.principal.owner_key == "user:alice"
    result = await svc.upload(ALICE, P, tfstate(2), owned_lock=True)
    assert result.changed
    with pytest.raises(LockConflict):
        await svc.upload(BOB, P, tfstate(3), owned_lock=True)
    with pytest.raises(LockConflict):
        await svc.upload(ALICE, P, tfstate(3))
    assert (await svc.download(SYSTEM_CALLER, P))[0].serial == 2  # type: ignore[index]


def test_an_api_token_owns_its_locks_whoever_it_acts_for() -> None:
    """Two jobs using one API token are one lock owner; users are told apart by subject."""
    token = Principal(subject="ci", kind=PrincipalKind.API_TOKEN, token_id="t1")
    assert token.owner_key == "token:t1"
    assert ALICE.principal.owner_key != BOB.principal.owner_key


def test_a_caller_cannot_claim_a_lock_owner() -> None:
    """The wire ignores an ``owner`` sent by a client; only the service sets it."""
    from taco_adapters.wire import lock_from_json

    assert lock_from_json({"ID": "x", "Owner": "token:someone"}).owner == ""


async def test_served_states_and_listings_are_filtered_like_the_plain_ones(
    svc: StateService, access: TableAccess
) -> None:
    """The serving paths (``open_download``, ``list_unit_documents``) give an
    outputs-only caller the redacted bytes with their own digest, and list
    only what the caller may see."""
    await seed(svc, P, serial=3)
    await seed(svc, UnitId("dev/hidden"))
    access.grant("bob", "unit.read_outputs", P)
    found = await svc.open_download(BOB, P)
    plain = await svc.download(BOB, P)
    assert found is not None and plain is not None
    version, reader = found
    assert reader.whole == plain[1]
    assert version == plain[0]
    assert version.sha256 == hashlib.sha256(plain[1]).hexdigest()
    page = await svc.list_unit_documents(BOB)
    assert [json.loads(d)["id"] for d in page.documents] == [P]
    full = await svc.open_download(SYSTEM_CALLER, P)
    assert full is not None and full[1].whole == tfstate(3)
