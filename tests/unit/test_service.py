"""Use cases of the core service over the memory fake."""

from __future__ import annotations

import hashlib
import json

import pytest

from taco_adapters.clock import ManualClock
from taco_adapters.memory import MemoryStateStore
from taco_core.auth import Principal, PrincipalKind
from taco_core.caller import Caller
from taco_core.errors import (
    DamagedPayload,
    InvalidState,
    LockConflict,
    ReservedUnitId,
    StateRejected,
    StateTooLarge,
    UnitNotFound,
)
from taco_core.event_bus import EventBus
from taco_core.events import Event, UnitLabelsChanged
from taco_core.model import LockInfo, RetentionPolicy, Surface
from taco_core.service import Policy, StateService, with_serial
from taco_core.unit_id import UnitId

U = UnitId("app/prod")

ME = Caller(Principal(subject="tester", kind=PrincipalKind.USER), Surface.API)


def tfstate(serial: int, lineage: str = "L1", greeting: str = "hi") -> bytes:
    doc = {
        "version": 4,
        "terraform_version": "1.0.3",
        "serial": serial,
        "lineage": lineage,
        "outputs": {"greeting": {"value": greeting, "type": "string"}},
        "resources": [],
    }
    return json.dumps(doc, indent=2).encode()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def svc(clock: ManualClock) -> StateService:
    return StateService(MemoryStateStore(), clock, Policy(max_state_bytes=10_000))


async def test_upload_to_missing_unit_is_not_found_unless_create_missing(svc: StateService) -> None:
    """Management uploads need an existing unit; backend writes create it."""
    with pytest.raises(UnitNotFound):
        await svc.upload(ME, U, tfstate(1))
    result = await svc.upload(ME, U, tfstate(1), create_missing=True)
    assert result.changed
    assert result.version.number == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"serial": "x"}', "serial"),
        (b'{"serial": -1}', "serial"),
        (b'{"lineage": 5}', "lineage"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
async def test_invalid_states_are_refused_and_nothing_changes(
    svc: StateService, payload: bytes, message: str
) -> None:
    """A payload that is not a state is refused with a reason; the stored state stays."""
    await svc.upload(ME, U, tfstate(1), create_missing=True)
    with pytest.raises(InvalidState, match=message):
        await svc.upload(ME, U, payload)
    assert (await svc.download(ME, U))[1] == tfstate(1)  # type: ignore[index]


async def test_size_limit(svc: StateService) -> None:
    """A state over the limit is refused before anything is stored."""
    await svc.create_unit(ME, "app/prod")
    big = json.dumps({"serial": 1, "pad": "x" * 20_000}).encode()
    with pytest.raises(StateTooLarge):
        await svc.upload(ME, U, big)
    assert await svc.download(ME, U) is None


@pytest.mark.parametrize("size", [1_000, 400_000])
async def test_a_state_not_matching_its_sent_md5_is_refused_first(
    clock: ManualClock, size: int
) -> None:
    """A body whose MD5 is not the one sent with it is DamagedPayload, before
    any other fault it has is reported, small (hashed inline) or large (hashed
    beside the parse); nothing is stored. The right MD5 is accepted."""
    svc = StateService(MemoryStateStore(), clock, Policy(max_state_bytes=1_000_000))
    await svc.upload(ME, U, tfstate(1), create_missing=True)
    good = json.dumps({"serial": 2, "lineage": "L1", "pad": "x" * size}).encode()
    md5 = hashlib.md5(good).hexdigest()
    damaged = good[:-2]  # also no longer JSON
    with pytest.raises(DamagedPayload) as caught:
        await svc.upload(ME, U, damaged, expected_md5=md5)
    assert caught.value.expected_md5 == md5
    assert "Content-MD5" in caught.value.message
    with pytest.raises(InvalidState):
        await svc.upload(ME, U, damaged, expected_md5=hashlib.md5(damaged).hexdigest())
    assert (await svc.download(ME, U))[1] == tfstate(1)  # type: ignore[index]
    written = await svc.upload(ME, U, good, expected_md5=md5.upper())
    assert written.version.md5 == md5


async def test_locked_write_needs_holder_id(svc: StateService) -> None:
    """While locked, writes without or with a wrong ID are refused and store nothing."""
    await svc.lock(ME, U, LockInfo(id="L", who="alice"), create_missing=True)
    for wrong in (None, "nope"):
        with pytest.raises(LockConflict) as caught:
            await svc.upload(ME, U, tfstate(1), lock_id=wrong)
        assert caught.value.holder.who == "alice"
    assert await svc.list_versions(ME, U) == []
    await svc.upload(ME, U, tfstate(1), lock_id="L")


async def test_lock_fills_blank_id_and_created(svc: StateService) -> None:
    """A lock request without ID or time gets a UUID and the server's time."""
    held = await svc.lock(ME, U, LockInfo(id=""), create_missing=True)
    assert len(held.id) == 36
    assert held.created.endswith("Z")


async def test_clobber_guard_quarantines_other_lineage(svc: StateService) -> None:
    """Another lineage is refused, kept in quarantine, and the head is unchanged."""
    await svc.upload(ME, U, tfstate(3), create_missing=True)
    with pytest.raises(StateRejected) as caught:
        await svc.upload(ME, U, tfstate(9, lineage="OTHER"))
    number = caught.value.quarantined
    assert number == 2
    version, data = await svc.read_version(ME, U, number)
    assert version.quarantined
    assert data == tfstate(9, lineage="OTHER")
    assert (await svc.download(ME, U))[0].number == 1  # type: ignore[index]


async def test_identical_retry_is_idempotent(svc: StateService) -> None:
    """Writing the current bytes again succeeds without a new version."""
    await svc.upload(ME, U, tfstate(3), create_missing=True)
    again = await svc.upload(ME, U, tfstate(3))
    assert not again.changed
    assert len(await svc.list_versions(ME, U)) == 1


async def test_force_writes_past_the_guard(svc: StateService) -> None:
    """force=True makes an older serial current and notes it."""
    await svc.upload(ME, U, tfstate(3), create_missing=True)
    result = await svc.upload(ME, U, tfstate(1), force=True)
    assert result.changed
    assert "forced" in result.version.note


async def test_restore_bumps_serial_and_keeps_lineage(svc: StateService) -> None:
    """Restore writes a new version with the old content and serial above all seen."""
    await svc.upload(ME, U, tfstate(1, greeting="one"), create_missing=True)
    await svc.upload(ME, U, tfstate(2, greeting="two"))
    await svc.upload(ME, U, tfstate(3, greeting="three"))
    restored = await svc.restore(ME, U, 1)
    assert restored.number == 4
    assert restored.serial == 4
    assert restored.restored_from == 1
    _, data = await svc.download(ME, U)  # type: ignore[misc]
    doc = json.loads(data)
    assert doc["outputs"]["greeting"]["value"] == "one"
    assert doc["lineage"] == "L1"
    assert doc["serial"] == 4
    # A Terraform-style next write (serial + 1) is accepted.
    await svc.upload(ME, U, tfstate(5, greeting="after"))


async def test_restore_honours_lock(svc: StateService) -> None:
    """Restore is refused while someone else holds the lock, allowed with the ID."""
    await svc.upload(ME, U, tfstate(1), create_missing=True)
    await svc.upload(ME, U, tfstate(2))
    await svc.lock(ME, U, LockInfo(id="L"))
    with pytest.raises(LockConflict):
        await svc.restore(ME, U, 1)
    await svc.restore(ME, U, 1, lock_id="L")


async def test_with_serial_edits_only_the_top_level_serial() -> None:
    """The byte edit changes the serial and nothing else; odd layouts are re-serialised."""
    data = tfstate(7)
    edited = with_serial(data, json.loads(data), 42)
    assert edited == data.replace(b'"serial": 7', b'"serial": 42')
    tricky = b'{"outputs": {"serial": 1}, "serial": 7}'
    fixed = json.loads(with_serial(tricky, json.loads(tricky), 9))
    assert fixed == {"outputs": {"serial": 1}, "serial": 9}


async def test_reserved_ids_cannot_be_created_by_users(svc: StateService) -> None:
    """create_unit refuses __opentaco_ IDs; backend-style creation may use them."""
    with pytest.raises(ReservedUnitId):
        await svc.create_unit(ME, "__opentaco_system")
    await svc.upload(ME, UnitId("__opentaco_system"), tfstate(1), create_missing=True)


async def test_soft_delete_and_purge_after_grace(clock: ManualClock) -> None:
    """Deleted units are recoverable until the grace period ends, then purged."""
    svc = StateService(MemoryStateStore(), clock, Policy(delete_grace_seconds=100))
    await svc.upload(ME, U, tfstate(1), create_missing=True)
    await svc.delete_unit(ME, U)
    assert await svc.purge_expired() == []
    await svc.undelete_unit(ME, U)
    await svc.delete_unit(ME, U)
    clock.advance(101)
    assert list(await svc.purge_expired()) == [U]
    assert await svc.list_units(ME, deleted=True) == []


async def test_retention_is_applied_on_write(clock: ManualClock) -> None:
    """The configured max_versions bounds history; the head always remains."""
    svc = StateService(MemoryStateStore(), clock, Policy(retention=RetentionPolicy(max_versions=3)))
    for serial in range(1, 8):
        await svc.upload(ME, U, tfstate(serial), create_missing=True)
    assert [v.number for v in await svc.list_versions(ME, U)] == [7, 6, 5]


async def test_labels_change_and_are_published(clock: ManualClock) -> None:
    """update_labels sets and removes the named labels only, and publishes the
    unit as it now is."""
    seen: list[Event] = []

    class Recorder:
        async def publish(self, event: Event) -> None:
            seen.append(event)

    svc = StateService(MemoryStateStore(), clock, events=EventBus([Recorder()]))
    await svc.create_unit(ME, U, {"team": "a", "tier": "web"})
    unit = await svc.update_labels(ME, U, {"app": "", "tier": None})
    assert unit.labels == {"team": "a", "app": ""}
    [event] = [e for e in seen if isinstance(e, UnitLabelsChanged)]
    assert isinstance(event, UnitLabelsChanged)
    assert (event.caller, event.unit) == (ME, unit)


async def test_force_is_noted_only_when_it_overrode_the_guard(svc: StateService) -> None:
    """A forced write the guard would have accepted anyway carries no note; one
    it would have refused says so, and why."""
    await svc.upload(ME, U, tfstate(1), create_missing=True)
    plain = await svc.upload(ME, U, tfstate(2), force=True)
    assert plain.version.note == ""
    forced = await svc.upload(ME, U, tfstate(1, greeting="back"), force=True)
    assert forced.version.note == (
        "forced over the clobber guard: serial 1 is older than the current serial 2"
    )
