"""The creator of an organization administers its units, and only those."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from taco_adapters.clock import ManualClock
from taco_core.auth import Principal, PrincipalKind
from taco_core.caller import SYSTEM_CALLER, Caller
from taco_core.directory import Organization
from taco_core.events import Event, OrganizationCreated, RbacChanged
from taco_core.model import Surface
from taco_core.org_roles import (
    OrganizationAdmins,
    grant_organization_admin,
    organization_admin_role,
)
from taco_core.rbac import RbacPolicy
from taco_core.rbac_policy import initial_policy
from taco_core.rbac_service import RbacService

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ALICE = Principal(subject="alice", kind=PrincipalKind.USER)


class PolicyStore:
    """An ``RbacStore`` fake: one document, compare-and-swap on its version."""

    def __init__(self, policy: RbacPolicy | None = None) -> None:
        self.policy = policy

    async def load(self) -> RbacPolicy | None:
        return self.policy

    async def save(self, policy: RbacPolicy, expected_version: int | None) -> bool:
        current = None if self.policy is None else self.policy.version
        if current != expected_version:
            return False
        self.policy = policy
        return True


def created(principal: Principal, name: str = "acme") -> OrganizationCreated:
    org = Organization(id="o1", name=name, display_name=name, created_at=NOW)
    return OrganizationCreated(caller=Caller(principal, Surface.API), at=NOW, organization=org)


async def test_the_creator_may_do_anything_with_the_organizations_units_only() -> None:
    """After the event, alice may write acme/* but not globex/*, nor manage RBAC."""
    store = PolicyStore(initial_policy(["admin"], NOW))
    rbac = RbacService(store, ManualClock())
    await OrganizationAdmins(rbac, ManualClock()).publish(created(ALICE))
    assert (await rbac.decide(ALICE, "unit.write", "acme/prod")).allowed
    assert (await rbac.decide(ALICE, "unit.delete", "acme/a/b")).allowed
    assert not (await rbac.decide(ALICE, "unit.read", "globex/prod")).allowed
    assert not (await rbac.decide(ALICE, "rbac.manage", "*")).allowed
    assert (await rbac.roles_of(ALICE)) == ("org-admin.acme",)


class Recorder:
    """An ``EventSink`` that keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.events.append(event)


async def test_the_grant_is_published_as_an_rbac_change_by_the_creator() -> None:
    """The grant is an RBAC change like an admin's (the audit trail records
    it): role_assigned, the role and subject, the saved policy's version,
    on behalf of whoever created the organization."""
    store = PolicyStore(initial_policy(["admin"], NOW))
    recorder = Recorder()
    event = created(ALICE)
    await OrganizationAdmins(RbacService(store, ManualClock()), ManualClock(), recorder).publish(
        event
    )
    assert store.policy is not None
    [change] = recorder.events
    assert isinstance(change, RbacChanged)
    assert (change.operation, change.role, change.subject, change.version) == (
        "role_assigned",
        "org-admin.acme",
        "alice",
        store.policy.version,
    )
    assert change.caller == event.caller


async def test_granting_twice_changes_nothing_and_others_share_the_role() -> None:
    policy = grant_organization_admin(RbacPolicy(), "acme", "alice", NOW)
    assert grant_organization_admin(policy, "acme", "alice", NOW) is policy
    both = grant_organization_admin(policy, "acme", "bob", NOW)
    assert both.assignments == {"alice": ("org-admin.acme",), "bob": ("org-admin.acme",)}
    assert list(both.roles) == ["org-admin.acme"]


@pytest.mark.parametrize(
    "principal",
    [
        Principal(subject="ci", kind=PrincipalKind.API_TOKEN, token_id="t1"),
        SYSTEM_CALLER.principal,
        Principal(subject="anonymous", kind=PrincipalKind.ANONYMOUS),
    ],
)
async def test_only_people_become_admins(principal: Principal) -> None:
    """Service subjects, the service and anonymous callers get no role, and
    no change is published."""
    store = PolicyStore()
    recorder = Recorder()
    await OrganizationAdmins(RbacService(store, ManualClock()), ManualClock(), recorder).publish(
        created(principal)
    )
    assert store.policy is None
    assert recorder.events == []


def test_long_names_get_a_valid_role_id() -> None:
    assert organization_admin_role("acme") == "org-admin.acme"
    long = organization_admin_role("a" * 100)
    assert len(long) <= 64 and long.startswith("org-admin.")
    assert long != organization_admin_role("a" * 99)
