"""The ``StateStore`` contract, run against every adapter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from taco_core.errors import (
    ConcurrentUpdate,
    LockConflict,
    UnitAlreadyExists,
    UnitNotFound,
    VersionNotFound,
)
from taco_core.model import LockInfo, NewVersion, RetentionPolicy, Surface, Unit
from taco_core.ports import StateStore
from taco_core.state_doc import read_facts
from taco_core.unit_id import UnitId

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KEEP_ALL = RetentionPolicy(max_versions=1000)


def unit(uid: str = "app/prod", **kw: object) -> Unit:
    return Unit(id=UnitId(uid), created=T0, updated=T0, **kw)  # type: ignore[arg-type]


def state(serial: int, lineage: str = "L1", extra: str = "") -> bytes:
    return json.dumps(
        {"version": 4, "serial": serial, "lineage": lineage, "outputs": {"x": {"value": extra}}}
    ).encode()


def new(data: bytes, at: datetime = T0, **kw: object) -> NewVersion:
    return NewVersion(facts=read_facts(data), data=data, created=at, **kw)  # type: ignore[arg-type]


U = UnitId("app/prod")


async def test_create_then_get_returns_the_unit(store: StateStore) -> None:
    """A created unit can be read back with its labels, unlocked and empty."""
    await store.create_unit(unit(labels={"team": "a"}))
    got = await store.get_unit(U)
    assert got.id == U
    assert got.labels == {"team": "a"}
    assert got.lock is None
    assert got.head is None
    assert got.size == 0


async def test_create_twice_is_refused(store: StateStore) -> None:
    """Creating an existing unit raises UnitAlreadyExists."""
    await store.create_unit(unit())
    with pytest.raises(UnitAlreadyExists):
        await store.create_unit(unit())


async def test_missing_unit_raises_not_found_everywhere(store: StateStore) -> None:
    """Every per-unit operation on a missing unit raises UnitNotFound."""
    missing = UnitId("nope")
    for call in (
        store.get_unit(missing),
        store.lock(missing, LockInfo(id="a")),
        store.unlock(missing, "a"),
        store.head(missing),
        store.unit_and_head(missing),
        store.version_page(missing, offset=0, limit=1),
        store.read_state(missing),
        store.list_versions(missing),
        store.read_version(missing, 1),
        store.delete_unit(missing, T0),
        store.commit(missing, new(state(1)), expected_head=None, lock_id=None, retention=KEEP_ALL),
    ):
        with pytest.raises(UnitNotFound):
            await call


async def test_list_filters_by_string_prefix_and_sorts(store: StateStore) -> None:
    """Listing matches a plain string prefix and sorts by ID."""
    for uid in ("b/x", "a/prod", "a/dev", "ab", "c"):
        await store.create_unit(unit(uid))
    assert [u.id for u in await store.list_units()] == ["a/dev", "a/prod", "ab", "b/x", "c"]
    assert [u.id for u in await store.list_units("a/")] == ["a/dev", "a/prod"]
    assert [u.id for u in await store.list_units("a")] == ["a/dev", "a/prod", "ab"]
    assert [u.id for u in await store.list_units("zzz")] == []


async def test_lock_is_exclusive_and_reports_the_holder(store: StateStore) -> None:
    """A second lock with another ID fails with the first holder attached."""
    await store.create_unit(unit())
    first = LockInfo(
        id="one", who="alice", operation="OperationTypeApply", created="x", owner="user:alice"
    )
    assert await store.lock(U, first) == first
    with pytest.raises(LockConflict) as caught:
        await store.lock(U, LockInfo(id="two", who="bob"))
    assert caught.value.holder == first
    assert (await store.get_unit(U)).lock == first


async def test_relock_with_same_id_is_idempotent(store: StateStore) -> None:
    """Locking again with the holder's ID succeeds and keeps the original lock."""
    await store.create_unit(unit())
    first = LockInfo(id="one", who="alice")
    await store.lock(U, first)
    assert await store.lock(U, LockInfo(id="one", who="retry")) == first


async def test_unlock_rules(store: StateStore) -> None:
    """Unlock needs the holder's ID; None forces; an unlocked unit unlocks fine.
    Each unlock returns the lock it released (None when there was none)."""
    await store.create_unit(unit())
    assert await store.unlock(U, "whatever") is None
    one = await store.lock(U, LockInfo(id="one", who="alice"))
    with pytest.raises(LockConflict):
        await store.unlock(U, "two")
    assert await store.unlock(U, "one") == one
    assert (await store.get_unit(U)).lock is None
    three = await store.lock(U, LockInfo(id="three"))
    assert await store.unlock(U, None) == three
    assert (await store.get_unit(U)).lock is None
    assert await store.unlock(U, None) is None


async def test_concurrent_locks_have_exactly_one_winner(store: StateStore) -> None:
    """Of many concurrent lock attempts exactly one succeeds."""
    await store.create_unit(unit())
    wins: list[str] = []

    async def attempt(i: int) -> None:
        try:
            await store.lock(U, LockInfo(id=f"l{i}"))
            wins.append(f"l{i}")
        except LockConflict:
            pass

    async with anyio.create_task_group() as tg:
        for i in range(24):
            tg.start_soon(attempt, i)
    assert len(wins) == 1
    assert (await store.get_unit(U)).lock == LockInfo(id=wins[0])


async def test_commit_moves_head_and_reads_back(store: StateStore) -> None:
    """A commit becomes the head; its bytes and metadata read back exactly."""
    await store.create_unit(unit())
    data = state(1)
    v1 = await store.commit(
        U,
        new(data, author="me", surface=Surface.BACKEND),
        expected_head=None,
        lock_id=None,
        retention=KEEP_ALL,
    )
    assert v1.number == 1
    assert v1.serial == 1
    assert v1.lineage == "L1"
    assert v1.author == "me"
    assert v1.surface == "backend"
    assert await store.head(U) == v1
    assert await store.read_state(U) == (v1, data)
    got = await store.get_unit(U)
    assert got.head == 1
    assert got.size == len(data)


async def test_commit_with_stale_head_is_refused(store: StateStore) -> None:
    """A commit whose expected head is stale raises ConcurrentUpdate and stores nothing."""
    await store.create_unit(unit())
    await store.commit(U, new(state(1)), expected_head=None, lock_id=None, retention=KEEP_ALL)
    with pytest.raises(ConcurrentUpdate):
        await store.commit(U, new(state(2)), expected_head=None, lock_id=None, retention=KEEP_ALL)
    assert [v.number for v in await store.list_versions(U)] == [1]


async def test_commit_honours_the_lock(store: StateStore) -> None:
    """While locked, only the holder's ID may commit; a refused commit stores nothing."""
    await store.create_unit(unit())
    await store.lock(U, LockInfo(id="holder"))
    for wrong in (None, "other"):
        with pytest.raises(LockConflict):
            await store.commit(
                U, new(state(1)), expected_head=None, lock_id=wrong, retention=KEEP_ALL
            )
    assert await store.list_versions(U) == []
    v = await store.commit(
        U, new(state(1)), expected_head=None, lock_id="holder", retention=KEEP_ALL
    )
    assert v.number == 1


async def test_quarantined_commit_keeps_head(store: StateStore) -> None:
    """A quarantined version is listed and readable but never becomes current."""
    await store.create_unit(unit())
    v1 = await store.commit(U, new(state(5)), expected_head=None, lock_id=None, retention=KEEP_ALL)
    bad = state(1, lineage="OTHER")
    q = await store.commit(
        U,
        new(bad, quarantined=True, note="lineage"),
        expected_head=1,
        lock_id=None,
        retention=KEEP_ALL,
    )
    assert q.quarantined
    assert q.number == 2
    assert await store.head(U) == v1
    assert (await store.read_version(U, 2)) == (q, bad)
    assert [v.number for v in await store.list_versions(U)] == [2, 1]


async def test_versions_list_newest_first_and_missing_version(store: StateStore) -> None:
    """Versions list newest first; an unknown number raises VersionNotFound."""
    await store.create_unit(unit())
    head = None
    for serial in range(1, 4):
        head = (
            await store.commit(
                U, new(state(serial)), expected_head=head, lock_id=None, retention=KEEP_ALL
            )
        ).number
    assert [v.number for v in await store.list_versions(U)] == [3, 2, 1]
    for missing in (99, -1, 2**63, 2**70):  # beyond 64 bits too: no store can hold one
        with pytest.raises(VersionNotFound):
            await store.read_version(U, missing)


async def test_retention_prunes_oldest_but_never_head(store: StateStore) -> None:
    """With max_versions=2 only the newest two versions remain, head included."""
    await store.create_unit(unit())
    policy = RetentionPolicy(max_versions=2)
    head = None
    for serial in range(1, 6):
        head = (
            await store.commit(
                U, new(state(serial)), expected_head=head, lock_id=None, retention=policy
            )
        ).number
    assert [v.number for v in await store.list_versions(U)] == [5, 4]
    with pytest.raises(VersionNotFound):
        await store.read_version(U, 1)


async def test_young_quarantine_survives_pruning_old_one_goes(store: StateStore) -> None:
    """Quarantined versions are kept through their grace period, then pruned."""
    await store.create_unit(unit())
    policy = RetentionPolicy(max_versions=1, quarantine_grace_seconds=60)
    await store.commit(U, new(state(5)), expected_head=None, lock_id=None, retention=policy)
    await store.commit(
        U, new(state(1, "X"), quarantined=True), expected_head=1, lock_id=None, retention=policy
    )
    later = T0 + timedelta(seconds=30)
    await store.commit(U, new(state(6), at=later), expected_head=1, lock_id=None, retention=policy)
    assert [v.number for v in await store.list_versions(U)] == [3, 2]
    much_later = T0 + timedelta(seconds=120)
    await store.commit(
        U, new(state(7), at=much_later), expected_head=3, lock_id=None, retention=policy
    )
    assert [v.number for v in await store.list_versions(U)] == [4]


async def test_soft_delete_hides_then_undelete_restores(store: StateStore) -> None:
    """A deleted unit disappears from get/list, is listed as deleted, and comes back whole."""
    await store.create_unit(unit())
    data = state(1)
    await store.commit(U, new(data), expected_head=None, lock_id=None, retention=KEEP_ALL)
    await store.delete_unit(U, T0)
    with pytest.raises(UnitNotFound):
        await store.get_unit(U)
    assert await store.list_units() == []
    assert [u.id for u in await store.list_units(deleted=True)] == [U]
    back = await store.undelete_unit(U)
    assert back.deleted_at is None
    assert (await store.read_state(U))[1] == data  # type: ignore[index]


async def test_deleted_id_is_free_and_undelete_waits_for_it(store: StateStore) -> None:
    """After a delete the ID can be created afresh; undelete refuses while it is taken
    and afterwards brings back the newest deleted incarnation with its history."""
    await store.create_unit(unit())
    old = state(1)
    await store.commit(U, new(old), expected_head=None, lock_id=None, retention=KEEP_ALL)
    await store.delete_unit(U, T0)
    await store.create_unit(unit())
    assert await store.read_state(U) is None
    assert await store.list_versions(U) == []
    with pytest.raises(UnitAlreadyExists):
        await store.undelete_unit(U)
    await store.commit(U, new(state(1, "NEW")), expected_head=None, lock_id=None,
                       retention=KEEP_ALL)  # fmt: skip
    await store.delete_unit(U, T0 + timedelta(seconds=5))
    assert [u.id for u in await store.list_units(deleted=True)] == [U, U]
    back = await store.undelete_unit(U)
    assert back.deleted_at is None
    assert (await store.read_state(U))[1] == state(1, "NEW")  # type: ignore[index]
    purged = await store.purge_deleted(T0 + timedelta(seconds=1))
    assert list(purged) == [U]
    assert await store.list_units(deleted=True) == []
    assert (await store.read_state(U))[1] == state(1, "NEW")  # type: ignore[index]


async def test_delete_of_locked_unit_is_refused(store: StateStore) -> None:
    """A locked unit cannot be deleted; it stays as it was."""
    await store.create_unit(unit())
    await store.lock(U, LockInfo(id="l"))
    with pytest.raises(LockConflict):
        await store.delete_unit(U, T0)
    assert (await store.get_unit(U)).lock is not None


async def test_purge_removes_only_units_deleted_before_cutoff(store: StateStore) -> None:
    """Purge removes units deleted before the cutoff, with their history, and no others."""
    await store.create_unit(unit("old"))
    await store.create_unit(unit("young"))
    await store.commit(
        UnitId("old"), new(state(1)), expected_head=None, lock_id=None, retention=KEEP_ALL
    )
    await store.delete_unit(UnitId("old"), T0)
    await store.delete_unit(UnitId("young"), T0 + timedelta(days=10))
    purged = await store.purge_deleted(T0 + timedelta(days=1))
    assert list(purged) == ["old"]
    assert [u.id for u in await store.list_units(deleted=True)] == ["young"]
    await store.create_unit(unit("old"))
    assert await store.list_versions(UnitId("old")) == []


async def test_undelete_of_live_or_missing_unit_is_not_found(store: StateStore) -> None:
    """Undelete only applies to deleted units."""
    await store.create_unit(unit())
    with pytest.raises(UnitNotFound):
        await store.undelete_unit(U)
    with pytest.raises(UnitNotFound):
        await store.undelete_unit(UnitId("ghost"))


async def test_ping(store: StateStore) -> None:
    """A healthy store answers ping."""
    await store.ping()


async def test_unit_and_head_read_both_together(store: StateStore) -> None:
    """``unit_and_head`` is what ``get_unit`` and ``head`` say, lock included."""
    await store.create_unit(unit())
    assert await store.unit_and_head(U) == (await store.get_unit(U), None)
    v1 = await store.commit(U, new(state(1)), expected_head=None, lock_id=None, retention=KEEP_ALL)
    held = await store.lock(U, LockInfo(id="holder", who="me"))
    got, head = await store.unit_and_head(U)
    assert (got, head) == (await store.get_unit(U), v1)
    assert got.lock == held and got.head == 1


async def test_version_page_is_a_slice_of_the_history(store: StateStore) -> None:
    """A page holds the versions ``list_versions`` lists at those places, and the total."""
    await store.create_unit(unit())
    head = None
    for serial in range(1, 6):
        head = (
            await store.commit(
                U, new(state(serial)), expected_head=head, lock_id=None, retention=KEEP_ALL
            )
        ).number
    everything = list(await store.list_versions(U))
    for offset, limit in ((0, 1), (0, 5), (1, 2), (4, 10), (7, 3)):
        page = await store.version_page(U, offset=offset, limit=limit)
        assert page.total == 5
        assert list(page.versions) == everything[offset : offset + limit]


async def test_labels_change_one_key_at_a_time(store: StateStore) -> None:
    """update_labels sets and removes only the keys it names and returns the
    unit as it now is (lock included); the change is what get_unit reads."""
    await store.create_unit(unit(labels={"team": "a", "tier": "web"}))
    await store.lock(U, LockInfo(id="L1"))
    got = await store.update_labels(U, {"team": "b", "app": "", "tier": None, "gone": None})
    assert got.labels == {"team": "b", "app": ""}
    assert got.lock is not None and got.lock.id == "L1"
    assert (await store.get_unit(U)).labels == {"team": "b", "app": ""}
    [(_, listed)] = await store.unit_documents()
    assert _wire(listed)["labels"] == {"team": "b", "app": ""}
    with pytest.raises(UnitNotFound):
        await store.update_labels(UnitId("app/none"), {"a": "b"})


async def test_labels_keep_the_history_and_survive_a_commit(store: StateStore) -> None:
    """Changing labels leaves versions and head alone, and a later commit keeps them."""
    await store.create_unit(unit())
    await store.commit(U, new(state(1)), expected_head=None, lock_id=None, retention=KEEP_ALL)
    await store.update_labels(U, {"app": "billing"})
    await store.commit(U, new(state(2)), expected_head=1, lock_id=None, retention=KEEP_ALL)
    got = await store.get_unit(U)
    assert (got.labels, got.head) == ({"app": "billing"}, 2)
    assert [v.number for v in await store.list_versions(U)] == [2, 1]


async def test_concurrent_label_changes_all_land(store: StateStore) -> None:
    """Changes of different keys made at once are all kept (none overwrites another)."""
    await store.create_unit(unit())

    async def tag(n: int) -> None:
        await store.update_labels(U, {f"k{n}": str(n)})

    async with anyio.create_task_group() as tg:
        for n in range(6):
            tg.start_soon(tag, n)
    assert (await store.get_unit(U)).labels == {f"k{n}": str(n) for n in range(6)}


async def _settled(store: StateStore) -> None:
    """Let a store that compresses history in the background finish."""
    settle = getattr(store, "settle", None)
    if settle is not None:
        await settle()


def _wire(doc: str) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(doc)
    return parsed


async def test_unit_documents_are_the_api_shape_of_list_units(store: StateStore) -> None:
    """``unit_documents`` lists what ``list_units`` lists, each unit as ``unit_json``."""
    from taco_adapters.wire import unit_json

    await store.create_unit(unit("a/one", labels={"team": 'x"y', "emoji": "é☃"}))
    await store.create_unit(unit("a/two"))
    await store.create_unit(unit("b/three"))
    await store.lock(UnitId("a/two"), LockInfo(id="L", who="me", created="2026-01-01T00:00:00Z"))
    await store.commit(
        UnitId("a/one"), new(state(1)), expected_head=None, lock_id=None, retention=KEEP_ALL
    )
    for prefix in ("", "a/", "b/", "zz"):
        units = await store.list_units(prefix)
        docs = await store.unit_documents(prefix)
        assert [uid for uid, _ in docs] == [u.id for u in units]
        assert [_wire(d) for _, d in docs] == [unit_json(u) for u in units]
    page = await store.unit_documents(after="a/one", limit=1)
    assert [uid for uid, _ in page] == ["a/two"]
    assert await store.unit_documents(after="b/three") == []
    await store.delete_unit(UnitId("b/three"), T0 + timedelta(hours=1))
    deleted = await store.list_units(deleted=True)
    docs = await store.unit_documents(deleted=True)
    assert [_wire(d) for _, d in docs] == [unit_json(u) for u in deleted]
    assert _wire(docs[0][1])["deleted_at"]


async def test_unit_documents_follow_every_change_of_a_unit(store: StateStore) -> None:
    """A listing never shows a unit as it was before a lock, write or unlock."""
    from taco_adapters.wire import unit_json

    await store.create_unit(unit())
    assert _wire((await store.unit_documents())[0][1]) == unit_json(await store.get_unit(U))
    await store.lock(U, LockInfo(id="L"))
    assert _wire((await store.unit_documents())[0][1])["locked"] is True
    await store.commit(U, new(state(1)), expected_head=None, lock_id="L", retention=KEEP_ALL)
    assert _wire((await store.unit_documents())[0][1])["version"] == 1
    await store.unlock(U, "L")
    assert _wire((await store.unit_documents())[0][1]) == unit_json(await store.get_unit(U))


async def test_open_state_streams_the_head(store: StateStore) -> None:
    """``open_state`` reads the head's bytes (in any slices), None before a write."""
    with pytest.raises(UnitNotFound):
        await store.open_state(U)
    await store.create_unit(unit())
    assert await store.open_state(U) is None
    data = state(1, extra="z" * 5000)
    v1 = await store.commit(U, new(data), expected_head=None, lock_id=None, retention=KEEP_ALL)
    found = await store.open_state(U)
    assert found is not None
    version, reader = found
    assert version == v1
    assert reader.size == len(data)
    got = b""
    while chunk := await reader.read(777):
        got += chunk
    await reader.aclose()
    assert got == data


def _drifting(serial: int) -> bytes:
    """A state of some size whose resources change a little per version."""
    resources = [
        {
            "type": "aws_instance",
            "name": f"r{k}",
            "id": f"i-{(k * 7919 + (serial if k % 9 == 0 else 0)):012x}",
        }
        for k in range(300)
    ]
    return json.dumps(
        {"version": 4, "serial": serial, "lineage": "L1", "outputs": {}, "resources": resources},
        indent=2,
    ).encode()


async def test_superseded_versions_read_back_exactly(store: StateStore) -> None:
    """However history is stored (compressed, deltas), every kept version
    reads back byte for byte, and retention still prunes the oldest."""
    await store.create_unit(unit())
    policy = RetentionPolicy(max_versions=30)
    head = None
    written: dict[int, bytes] = {}
    for serial in range(1, 41):
        data = _drifting(serial)
        head = (
            await store.commit(U, new(data), expected_head=head, lock_id=None, retention=policy)
        ).number
        written[head] = data
    await _settled(store)
    kept = [v.number for v in await store.list_versions(U)]
    assert kept == list(range(40, 10, -1))
    for number in kept:
        version, data = await store.read_version(U, number)
        assert data == written[number]
        assert version.size == len(data)
    assert (await store.read_state(U)) == (await store.read_version(U, 40))
