"""Organizations and users: the directory's rules and use cases, over the
memory store (and a store that always loses its compare-and-swap)."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from taco_adapters.clock import ManualClock
from taco_adapters.memory import MemoryDirectoryStore
from taco_core.auth import Principal, PrincipalKind
from taco_core.caller import Caller
from taco_core.directory import Directory, check_organization_name, find_organization
from taco_core.directory_service import DirectoryService
from taco_core.errors import (
    ConcurrentDirectoryUpdate,
    InvalidInput,
    OrganizationAlreadyExists,
    OrganizationNotFound,
    UserNotFound,
)
from taco_core.event_bus import EventBus
from taco_core.events import Event, OrganizationCreated, UserAdded
from taco_core.model import Surface

UI = Caller(Principal(subject="user_1", kind=PrincipalKind.USER), Surface.API)


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.events.append(event)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def store() -> MemoryDirectoryStore:
    return MemoryDirectoryStore()


@pytest.fixture
def svc(store: MemoryDirectoryStore, recorder: Recorder) -> DirectoryService:
    return DirectoryService(store, ManualClock(), events=EventBus([recorder]))


@pytest.mark.parametrize("name", ["Digger-Org", " acme ", "a.b_c-9"])
def test_organization_names_are_lowercased_unit_segments(name: str) -> None:
    """A valid name comes back lowercased and trimmed."""
    assert check_organization_name(name) == name.strip().lower()


@pytest.mark.parametrize("name", ["", "ab", "-acme", "ac me", "acme/prod", "ac__me", "a" * 101])
def test_names_that_cannot_be_a_namespace_are_refused(name: str) -> None:
    """Too short or long, a leading '-', spaces, '/', '__': InvalidInput."""
    with pytest.raises(InvalidInput):
        check_organization_name(name)


async def test_a_sync_creates_once_then_finds_the_same(
    svc: DirectoryService, recorder: Recorder
) -> None:
    """The first sync creates (and publishes it), the next returns it unchanged."""
    org, created = await svc.sync_organization(UI, "Digger-Org", "Digger Org", "org_1")
    again, created_again = await svc.sync_organization(UI, "digger-org", "Renamed", "org_1")
    assert (created, created_again) == (True, False)
    assert again == org
    assert (org.name, org.display_name, org.external_id, org.created_by) == (
        "digger-org",
        "Digger Org",
        "org_1",
        "user_1",
    )
    [event] = recorder.events
    assert isinstance(event, OrganizationCreated) and event.organization == org


async def test_names_and_external_ids_are_unique(svc: DirectoryService) -> None:
    """A name or external ID already taken is OrganizationAlreadyExists."""
    await svc.create_organization(UI, "acme", "Acme", "org_1")
    with pytest.raises(OrganizationAlreadyExists):
        await svc.create_organization(UI, "acme", "Other", "org_2")
    with pytest.raises(OrganizationAlreadyExists):
        await svc.create_organization(UI, "globex", "Globex", "org_1")
    with pytest.raises(OrganizationAlreadyExists):
        await svc.sync_organization(UI, "acme", "Acme", "org_3")
    with pytest.raises(InvalidInput):
        await svc.sync_organization(UI, "initech", "Initech", "")


async def test_an_organization_is_found_by_external_id_then_id_then_name(
    svc: DirectoryService,
) -> None:
    """Lookups try the identity provider's ID first, then ours, then the name."""
    first = await svc.create_organization(UI, "acme", "Acme", "globex")
    second = await svc.create_organization(UI, "globex", "Globex", "org_2")
    assert await svc.organization("globex") == first
    assert await svc.organization(second.id) == second
    assert await svc.organization("org_2") == second
    with pytest.raises(OrganizationNotFound) as missing:
        await svc.organization("default")
    assert "sync it first" in missing.value.message


async def test_users_join_organizations_idempotently(
    svc: DirectoryService, recorder: Recorder
) -> None:
    """A new user is created; adding them again changes nothing; adding them
    to a second organization keeps the first; each organization lists its own."""
    acme = await svc.create_organization(UI, "acme")
    globex = await svc.create_organization(UI, "globex")
    user, created = await svc.add_user(UI, acme, "user_1", "u1@example.test")
    same, created_again = await svc.add_user(UI, acme, "user_1")
    assert (created, created_again) == (True, False)
    assert same == user
    version = (await svc.directory()).version
    await svc.add_user(UI, acme, "user_1", "u1@example.test")
    assert (await svc.directory()).version == version
    both, _ = await svc.add_user(UI, globex, "user_1")
    assert both.organizations == (acme.id, globex.id) and both.email == "u1@example.test"
    await svc.add_user(UI, globex, "user_2")
    assert [u.subject for u in await svc.users(acme)] == ["user_1"]
    assert [u.subject for u in await svc.users(globex)] == ["user_1", "user_2"]
    with pytest.raises(UserNotFound):
        await svc.user(acme, "user_2")
    assert isinstance(recorder.events[-1], UserAdded)


async def test_a_subjects_organizations_are_those_it_joined_or_created(
    svc: DirectoryService,
) -> None:
    """organizations_of lists memberships and creations, by name, and nothing else."""
    acme = await svc.create_organization(UI, "acme")
    other = Caller(Principal(subject="user_9", kind=PrincipalKind.USER), Surface.API)
    zeta = await svc.create_organization(other, "zeta")
    await svc.create_organization(other, "globex")
    await svc.add_user(other, zeta, "user_1")
    assert [o.name for o in await svc.organizations_of("user_1")] == ["acme", "zeta"]
    assert [o.name for o in await svc.organizations_of("user_9")] == ["globex", "zeta"]
    assert await svc.organizations_of("nobody") == []
    assert await svc.organizations_of("") == []
    assert acme.created_by == "user_1"


async def test_racing_syncs_create_the_organization_once(store: MemoryDirectoryStore) -> None:
    """Replicas syncing the same new organization at once: one creates it,
    every other finds it."""
    services = [DirectoryService(store, ManualClock()) for _ in range(6)]
    results: list[bool] = []

    async def sync(svc: DirectoryService) -> None:
        await anyio.lowlevel.checkpoint()
        _, created = await svc.sync_organization(UI, "acme", "Acme", "org_1")
        results.append(created)

    async with anyio.create_task_group() as tg:
        for svc in services:
            tg.start_soon(sync, svc)
    assert sorted(results) == [False] * 5 + [True]
    assert len((await services[0].directory()).organizations) == 1


async def test_a_store_that_always_loses_ends_in_concurrent_update() -> None:
    """Contention that never settles is reported, not looped on forever."""

    class Losing(MemoryDirectoryStore):
        async def save(self, directory: Directory, expected_version: int | None) -> bool:
            return False

    with pytest.raises(ConcurrentDirectoryUpdate):
        await DirectoryService(Losing(), ManualClock()).create_organization(UI, "acme")


def test_find_organization_in_an_empty_directory_finds_nothing() -> None:
    assert find_organization(Directory(), "acme") is None
