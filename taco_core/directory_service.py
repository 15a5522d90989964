"""The directory's use cases: create and sync organizations, add users, look them up.

Edits are compare-and-swap on the directory's version, re-applied to the
newer document when another replica saved first (``RbacService.edit`` does
the same for the RBAC policy), so two syncs racing never lose one another
and "created" is decided once: of two replicas syncing the same new
organization, exactly one reports it created.

These use cases ask no ``AccessControl``: their only front door is the
internal API, whose webhook secret is the authority (the UI that holds it
decides who may sync). What the organization's units allow is RBAC's call,
as for any unit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar

from taco_core.caller import Caller
from taco_core.directory import (
    EMPTY_DIRECTORY,
    Directory,
    Organization,
    User,
    add_organization,
    add_user,
    check_display_name,
    check_email,
    check_external_id,
    check_organization_name,
    check_subject,
    find_organization,
    members,
    organizations_of,
)
from taco_core.errors import (
    ConcurrentDirectoryUpdate,
    InvalidInput,
    OrganizationNotFound,
    UserNotFound,
)
from taco_core.event_bus import EventBus
from taco_core.events import Event, OrganizationCreated, UserAdded
from taco_core.ports import Clock, DirectoryStore, EventSink

T = TypeVar("T")

# Syncs conflict only when a UI syncs the same directory from several places
# at the same moment; a few re-applications settle any realistic contention.
_MAX_ATTEMPTS = 16


class DirectoryService:
    """Use cases over a ``DirectoryStore``; what happened goes to ``events``."""

    def __init__(
        self, store: DirectoryStore, clock: Clock, *, events: EventSink | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.events: EventSink = events or EventBus()

    async def directory(self) -> Directory:
        """The current directory (empty on a fresh install)."""
        return await self.store.load() or EMPTY_DIRECTORY

    async def _edit(self, change: Callable[[Directory], tuple[Directory, T]]) -> T:
        """Apply ``change`` (pure; it may run several times) to the stored
        directory and save the result by compare-and-swap; its errors reach
        the caller with nothing saved. Returns what ``change`` returned with
        the directory that was saved."""
        for _ in range(_MAX_ATTEMPTS):
            stored = await self.store.load()
            current = stored or EMPTY_DIRECTORY
            new, result = change(current)
            if new is current:
                return result
            if await self.store.save(new, None if stored is None else stored.version):
                return result
        raise ConcurrentDirectoryUpdate()

    async def _publish(self, event: Event) -> None:
        await self.events.publish(event)

    # -- organizations ----------------------------------------------------------

    def _new_organization(
        self, caller: Caller, name: str, display_name: str, external_id: str
    ) -> Organization:
        name = check_organization_name(name)
        return Organization(
            id=str(uuid.uuid4()),
            name=name,
            display_name=check_display_name(display_name) or name,
            external_id=check_external_id(external_id),
            created_at=self.clock.now(),
            created_by=caller.principal.subject,
        )

    async def create_organization(
        self, caller: Caller, name: str, display_name: str = "", external_id: str = ""
    ) -> Organization:
        """A new organization; ``OrganizationAlreadyExists`` when the name or
        the external ID is taken, ``InvalidInput`` for a bad name."""
        organization = self._new_organization(caller, name, display_name, external_id)

        def change(current: Directory) -> tuple[Directory, Organization]:
            return add_organization(current, organization), organization

        created = await self._edit(change)
        await self._publish(
            OrganizationCreated(caller=caller, at=created.created_at, organization=created)
        )
        return created

    async def sync_organization(
        self, caller: Caller, name: str, display_name: str, external_id: str
    ) -> tuple[Organization, bool]:
        """The organization with this external ID, created (True) if there is
        none yet; an existing one is returned as it is (False), so syncing is
        idempotent. ``OrganizationAlreadyExists`` when the name belongs to an
        organization with another external ID."""
        if not check_external_id(external_id):
            raise InvalidInput("syncing an organization needs its external_org_id")
        organization = self._new_organization(caller, name, display_name, external_id)

        def change(current: Directory) -> tuple[Directory, tuple[Organization, bool]]:
            for found in current.organizations.values():
                if found.external_id == organization.external_id:
                    return current, (found, False)
            return add_organization(current, organization), (organization, True)

        synced, created = await self._edit(change)
        if created:
            await self._publish(
                OrganizationCreated(caller=caller, at=synced.created_at, organization=synced)
            )
        return synced, created

    async def organizations(self) -> Sequence[Organization]:
        """Every organization, by name."""
        directory = await self.directory()
        return sorted(directory.organizations.values(), key=lambda o: o.name)

    async def organizations_of(self, subject: str) -> Sequence[Organization]:
        """The organizations ``subject`` belongs to or created, by name."""
        return organizations_of(await self.directory(), subject)

    async def organization(self, identifier: str) -> Organization:
        """The organization ``identifier`` names (external ID, ID or name,
        ``directory.find_organization``); ``OrganizationNotFound`` otherwise."""
        found = find_organization(await self.directory(), identifier)
        if found is None:
            raise OrganizationNotFound(identifier)
        return found

    # -- users ------------------------------------------------------------------

    async def add_user(
        self, caller: Caller, organization: Organization, subject: str, email: str = ""
    ) -> tuple[User, bool]:
        """Make ``subject`` a member of ``organization``: the user as it now
        is, and whether it is new (a known user is updated, idempotently)."""
        subject = check_subject(subject)
        email = check_email(email)
        now = self.clock.now()

        def change(current: Directory) -> tuple[Directory, tuple[User, bool]]:
            if organization.id not in current.organizations:
                raise OrganizationNotFound(organization.name)
            known = current.users.get(subject)
            if (
                known is not None
                and organization.id in known.organizations
                and (not email or email == known.email)
            ):
                return current, (known, False)
            updated, user, created = add_user(current, organization.id, subject, email, now)
            return updated, (user, created)

        user, created = await self._edit(change)
        await self._publish(
            UserAdded(caller=caller, at=now, organization=organization, user=user, created=created)
        )
        return user, created

    async def users(self, organization: Organization) -> Sequence[User]:
        """The organization's users, by subject."""
        return members(await self.directory(), organization)

    async def user(self, organization: Organization, subject: str) -> User:
        """One member of the organization; ``UserNotFound`` for anyone else."""
        found = (await self.directory()).users.get(subject)
        if found is None or organization.id not in found.organizations:
            raise UserNotFound(subject)
        return found
