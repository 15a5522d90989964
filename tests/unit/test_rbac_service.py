"""The RBAC service over a fake compare-and-swap store: initialise once, edit without
losing changes, decide with the current policy."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from taco_core.access import ReadAccess
from taco_core.auth import Principal, PrincipalKind
from taco_core.errors import (
    ConcurrentPolicyUpdate,
    InvalidState,
    PermissionDenied,
    RoleAlreadyExists,
    WouldLockOut,
)
from taco_core.ports import RbacStore
from taco_core.rbac import EMPTY_POLICY, Basis, Effect, RbacPolicy, Rule
from taco_core.rbac_policy import (
    ADMIN,
    READER,
    assign_permission,
    assign_role,
    create_permission,
    create_role,
    delete_role,
    revoke_role,
)
from taco_core.rbac_service import RbacService


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


class FakeRbacStore:
    """The port's contract in a few lines: one document, CAS on its version.

    ``before_save`` runs inside ``save`` before the version check, so a test can
    slip a competing writer in between an edit's load and its save.
    """

    def __init__(self) -> None:
        self.stored: RbacPolicy | None = None
        self.loads = 0
        self.before_save: Callable[[], Awaitable[None]] | None = None
        self.after_load: Callable[[], Awaitable[None]] | None = None

    async def load(self) -> RbacPolicy | None:
        self.loads += 1
        found = self.stored
        if self.after_load is not None:
            await self.after_load()
        return found

    async def save(self, policy: RbacPolicy, expected_version: int | None) -> bool:
        if self.before_save is not None:
            await self.before_save()
        current = None if self.stored is None else self.stored.version
        if current != expected_version:
            return False
        assert policy.version == (expected_version or 0) + 1
        self.stored = policy
        return True


def user(subject: str, groups: tuple[str, ...] = ()) -> Principal:
    return Principal(subject=subject, kind=PrincipalKind.USER, groups=groups)


ADMIN_USER = user("root")


@pytest.fixture
def store() -> FakeRbacStore:
    return FakeRbacStore()


@pytest.fixture
async def svc(store: FakeRbacStore) -> RbacService:
    service = RbacService(store, Clock())
    await service.ensure_initialised(["root"])
    return service


def test_fake_store_satisfies_the_port(store: FakeRbacStore) -> None:
    """The fake is a structural RbacStore (checked by the type checker too)."""
    port: RbacStore = store
    assert port is store


# -- initialisation ---------------------------------------------------------------------


async def test_ensure_initialised_creates_once(store: FakeRbacStore) -> None:
    """The first call stores the initial policy; later calls keep what is stored."""
    first = await RbacService(store, Clock()).ensure_initialised(["root"])
    assert first.version == 1
    assert first.assignments == {"root": (ADMIN,)}
    again = await RbacService(store, Clock()).ensure_initialised(["someone-else"])
    assert again == first
    assert store.stored == first


async def test_ensure_initialised_race_has_one_winner(store: FakeRbacStore) -> None:
    """Replicas starting together both see nothing stored; exactly one policy is
    created and the loser takes the winner's."""
    both_loaded = anyio.Event()
    waiting = 0

    async def barrier() -> None:
        nonlocal waiting
        if both_loaded.is_set():
            return
        waiting += 1
        if waiting == 2:
            both_loaded.set()
        await both_loaded.wait()

    store.after_load = barrier
    results: dict[str, RbacPolicy] = {}

    async def start(name: str) -> None:
        results[name] = await RbacService(store, Clock()).ensure_initialised([name])

    async with anyio.create_task_group() as tg:
        tg.start_soon(start, "a")
        tg.start_soon(start, "b")
    assert results["a"] == results["b"] == store.stored
    assert store.stored is not None
    assert len(store.stored.assignments) == 1


# -- edits --------------------------------------------------------------------------------


async def test_edit_saves_the_next_version(svc: RbacService, store: FakeRbacStore) -> None:
    """An edit is applied to the stored policy and saved as the next version."""
    saved = await svc.edit(lambda p: create_role(p, "ci"))
    assert saved.version == 2
    assert store.stored == saved
    assert "ci" in (await svc.policy()).roles


async def test_edit_errors_reach_the_caller_and_save_nothing(
    svc: RbacService, store: FakeRbacStore
) -> None:
    """A failing edit raises its typed error and leaves the store as it was."""
    before = store.stored
    with pytest.raises(RoleAlreadyExists):
        await svc.edit(lambda p: create_role(p, ADMIN))
    assert store.stored == before


async def test_edit_composed_of_several_steps_is_one_version(svc: RbacService) -> None:
    """However many edits a change composes, the saved version is the stored one plus one."""
    rule = Rule(Effect.ALLOW, ("unit.read",), ("dev/*",))
    saved = await svc.edit(
        lambda p: assign_permission(create_permission(create_role(p, "ci"), "d", [rule]), "ci", "d")
    )
    assert saved.version == 2
    assert saved.roles["ci"].permissions == ("d",)


async def test_concurrent_edits_lose_nothing(svc: RbacService, store: FakeRbacStore) -> None:
    """When another admin saves between our load and save, our edit is re-applied on
    top of theirs and both changes are kept."""
    other = RbacService(store, Clock())

    async def competitor() -> None:
        store.before_save = None
        await other.edit(lambda p: create_role(p, "theirs"))

    store.before_save = competitor
    calls = 0

    def ours(p: RbacPolicy) -> RbacPolicy:
        nonlocal calls
        calls += 1
        return create_role(p, "ours")

    saved = await svc.edit(ours)
    assert calls == 2
    assert {"ours", "theirs"} <= saved.roles.keys()
    assert saved.version == 3
    assert store.stored == saved


async def test_edit_conflicting_with_the_winner_fails_cleanly(
    svc: RbacService, store: FakeRbacStore
) -> None:
    """If the competing edit makes ours invalid, the re-application raises its error."""
    other = RbacService(store, Clock())

    async def competitor() -> None:
        store.before_save = None
        await other.edit(lambda p: create_role(p, "same"))

    store.before_save = competitor
    with pytest.raises(RoleAlreadyExists):
        await svc.edit(lambda p: create_role(p, "same"))


async def test_persistent_contention_gives_up(svc: RbacService, store: FakeRbacStore) -> None:
    """An edit that keeps losing the race stops after a bounded number of attempts."""

    async def always_someone_else() -> None:
        assert store.stored is not None
        store.stored = RbacPolicy(
            version=store.stored.version + 1,
            permissions=store.stored.permissions,
            roles=store.stored.roles,
            assignments=store.stored.assignments,
        )

    store.before_save = always_someone_else
    calls = 0

    def change(p: RbacPolicy) -> RbacPolicy:
        nonlocal calls
        calls += 1
        return create_role(p, "x")

    with pytest.raises(ConcurrentPolicyUpdate):
        await svc.edit(change)
    assert calls == 16


async def test_edit_refuses_to_lock_everyone_out(svc: RbacService, store: FakeRbacStore) -> None:
    """Taking the last admin's role away is refused; with another admin it is fine."""
    before = store.stored
    with pytest.raises(WouldLockOut, match="nobody able to manage RBAC"):
        await svc.edit(lambda p: revoke_role(p, "root", ADMIN))
    with pytest.raises(WouldLockOut):
        await svc.edit(lambda p: delete_role(p, ADMIN, cascade=True))
    assert store.stored == before
    await svc.edit(lambda p: assign_role(p, "second", ADMIN))
    saved = await svc.edit(lambda p: revoke_role(p, "root", ADMIN))
    assert saved.assignments == {"second": (ADMIN,)}


async def test_group_mapped_admins_count_against_lock_out(store: FakeRbacStore) -> None:
    """When a group maps to admin, the last assigned admin may be removed."""
    svc = RbacService(store, Clock(), group_roles={"platform": (ADMIN,)})
    await svc.ensure_initialised(["root"])
    saved = await svc.edit(lambda p: revoke_role(p, "root", ADMIN))
    assert saved.assignments == {}
    assert (await svc.decide(user("pat", ("platform",)), "rbac.manage")).allowed


async def test_edit_on_an_uninitialised_store_creates_the_document(store: FakeRbacStore) -> None:
    """Without a stored policy an edit starts from the empty policy (version 0)."""
    svc = RbacService(store, Clock())
    assert await svc.policy() == EMPTY_POLICY
    saved = await svc.edit(lambda p: create_role(p, "r"))
    assert saved.version == 1
    assert store.stored == saved


# -- decisions ------------------------------------------------------------------------------


async def test_decide_uses_assignments_and_groups(store: FakeRbacStore) -> None:
    """A subject's roles come from assignments and group mapping; neither means denied."""
    svc = RbacService(store, Clock(), group_roles={"devs": (READER,)})
    await svc.ensure_initialised(["root"])
    assert (await svc.decide(ADMIN_USER, "unit.write", "prod/app")).allowed
    assert (await svc.decide(user("dana", ("devs",)), "unit.read", "prod/app")).allowed
    nobody = await svc.decide(user("eve"), "unit.read", "prod/app")
    assert not nobody.allowed
    assert nobody.basis is Basis.NO_ROLES
    assert await svc.roles_of(user("dana", ("devs",))) == (READER,)


async def test_check_raises_permission_denied_naming_action_and_unit(svc: RbacService) -> None:
    """A refusal is PermissionDenied whose message names the action, the unit and why."""
    with pytest.raises(PermissionDenied) as err:
        await svc.check(user("eve"), "unit.write", "prod/app")
    assert (err.value.action, err.value.resource) == ("unit.write", "prod/app")
    assert str(err.value) == (
        "permission denied: unit.write on unit 'prod/app' is not allowed "
        "(the caller holds no roles)"
    )
    with pytest.raises(PermissionDenied, match=r"^permission denied: rbac\.manage is not allowed"):
        await svc.check(user("eve"), "rbac.manage")
    assert (await svc.check(ADMIN_USER, "unit.delete", "prod/app")).allowed


async def test_narrowed_token_is_limited(svc: RbacService) -> None:
    """A token narrowed to reader acts as a reader even though its subject is admin."""
    await svc.edit(lambda p: assign_role(p, "root", READER))
    token = Principal("root", PrincipalKind.API_TOKEN, narrowed_to=(READER,))
    assert (await svc.decide(token, "unit.read", "a")).allowed
    assert not (await svc.decide(token, "unit.write", "a")).allowed


async def test_filter_matches_decisions(svc: RbacService) -> None:
    """List filtering leaves out units the caller cannot see."""
    rule = Rule(Effect.ALLOW, ("unit.read",), ("dev/*",))
    await svc.edit(lambda p: create_permission(p, "dev-read", [rule]))
    await svc.edit(lambda p: create_role(p, "dev", permissions=["dev-read"]))
    await svc.edit(lambda p: assign_role(p, "ci", "dev"))
    ids = ["dev/a", "prod/a", "dev/b/c"]
    assert await svc.filter(user("ci"), "unit.read", ids, str) == ["dev/a", "dev/b/c"]
    assert await svc.filter(user("eve"), "unit.read", ids, str) == []


async def test_a_local_edit_is_seen_at_once_despite_caching(store: FakeRbacStore) -> None:
    """With a cache age, other processes' edits wait for expiry, but ours never do."""
    clock = Clock()
    svc = RbacService(store, clock, max_age=timedelta(seconds=5))
    await svc.ensure_initialised(["root"])
    assert not (await svc.decide(user("bob"), "unit.read", "x")).allowed
    await svc.edit(lambda p: assign_role(p, "bob", READER))
    assert (await svc.decide(user("bob"), "unit.read", "x")).allowed

    await RbacService(store, clock).edit(lambda p: assign_role(p, "carol", READER))
    assert not (await svc.decide(user("carol"), "unit.read", "x")).allowed
    clock.at += timedelta(seconds=5)
    assert (await svc.decide(user("carol"), "unit.read", "x")).allowed


async def test_default_reads_the_policy_for_every_decision(store: FakeRbacStore) -> None:
    """Without a cache age, an edit by another process applies to the very next decision."""
    svc = RbacService(store, Clock())
    await svc.ensure_initialised(["root"])
    await RbacService(store, Clock()).edit(lambda p: assign_role(p, "carol", READER))
    assert (await svc.decide(user("carol"), "unit.read", "x")).allowed


async def test_a_slow_load_never_undoes_a_local_edit(store: FakeRbacStore) -> None:
    """A load that began before a local edit and ends after it does not replace the
    edited policy in the cache."""
    clock = Clock()
    svc = RbacService(store, clock, max_age=timedelta(seconds=60))
    await svc.ensure_initialised(["root"])
    clock.at += timedelta(seconds=61)
    loaded, edited = anyio.Event(), anyio.Event()

    async def hold_the_load() -> None:
        store.after_load = None
        loaded.set()
        await edited.wait()

    store.after_load = hold_the_load

    async def slow_decision() -> None:
        await svc.decide(user("bob"), "unit.read", "x")

    async with anyio.create_task_group() as tg:
        tg.start_soon(slow_decision)
        await loaded.wait()
        await svc.edit(lambda p: assign_role(p, "bob", READER))
        edited.set()
    assert (await svc.decide(user("bob"), "unit.read", "x")).allowed


async def test_disabled_allows_everything(store: FakeRbacStore) -> None:
    """With authorization off every check passes and lists are not filtered."""
    svc = RbacService(store, Clock(), enabled=False)
    d = await svc.check(user("eve"), "unit.delete", "prod/app")
    assert d.basis is Basis.DISABLED
    assert await svc.filter(user("eve"), "unit.read", ["a", "b"], str) == ["a", "b"]
    assert await svc.read_access(user("eve"), "a") is ReadAccess.FULL


# -- outputs-only reads ----------------------------------------------------------------------

STATE = json.dumps(
    {
        "version": 4,
        "terraform_version": "1.0.3",
        "serial": 2,
        "lineage": "L",
        "outputs": {
            "url": {"value": "https://x", "type": "string"},
            "key": {"value": "s3cr3t", "type": "string", "sensitive": True},
        },
        "resources": [{"type": "x", "instances": [{"attributes": {"k": "s3cr3t"}}]}],
    }
).encode()


@pytest.fixture
async def outputs_svc(svc: RbacService) -> RbacService:
    rule = Rule(Effect.ALLOW, ("unit.read_outputs",), ("prod/*",))
    await svc.edit(lambda p: create_permission(p, "prod-outputs", [rule]))
    await svc.edit(lambda p: create_role(p, "consumer", permissions=["prod-outputs"]))
    await svc.edit(lambda p: assign_role(p, "app", "consumer"))
    await svc.edit(lambda p: assign_role(p, "auditor", READER))
    return svc


async def test_read_access_levels(outputs_svc: RbacService) -> None:
    """unit.read reads all; unit.read_outputs alone reads outputs; neither is refused."""
    assert await outputs_svc.read_access(user("auditor"), "prod/app") is ReadAccess.FULL
    assert await outputs_svc.read_access(user("app"), "prod/app") is ReadAccess.OUTPUTS_ONLY
    with pytest.raises(PermissionDenied, match=r"unit\.read on unit 'dev/app'"):
        await outputs_svc.read_access(user("app"), "dev/app")


async def test_visible_state(outputs_svc: RbacService) -> None:
    """Full readers get the stored bytes; outputs-only readers a redacted state."""
    assert await outputs_svc.visible_state(ReadAccess.FULL, STATE) is STATE
    redacted = await outputs_svc.visible_state(ReadAccess.OUTPUTS_ONLY, STATE)
    assert b"s3cr3t" not in redacted
    assert json.loads(redacted)["outputs"] == {"url": {"value": "https://x", "type": "string"}}


async def test_visible_state_of_a_large_state_runs_off_the_loop(svc: RbacService) -> None:
    """A large state is redacted too (in a worker thread), with the same result."""
    doc = json.loads(STATE)
    doc["resources"] = [{"pad": "s3cr3t" * 1000, "i": i} for i in range(60)]
    big = json.dumps(doc).encode()
    assert len(big) > 256 * 1024
    redacted = await svc.visible_state(ReadAccess.OUTPUTS_ONLY, big)
    assert b"s3cr3t" not in redacted
    with pytest.raises(InvalidState):
        await svc.visible_state(ReadAccess.OUTPUTS_ONLY, b'{"version": 3}')
