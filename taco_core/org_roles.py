"""Who administers an organization's units: its creator, by default.

When a person creates (or first syncs) an organization through the internal
API, ``OrganizationAdmins`` gives them the role ``org-admin.<name>``, whose
one permission allows every action on the organization's units
(``<name>/*``) and nothing else (no RBAC or token management, no other
organization). The role and permission are made once per organization and
shared by everyone later given it; an admin can revoke it like any role.
Service accounts and the service itself get nothing. The grant is an RBAC
change like an admin's: it is published (``RbacChanged``, operation
``role_assigned``) on behalf of the creator, for the audit trail.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from taco_core.auth import PrincipalKind
from taco_core.event_bus import EventBus
from taco_core.events import Event, OrganizationCreated, RbacChanged
from taco_core.ports import Clock, EventSink
from taco_core.rbac import Action, Effect, RbacPolicy, Rule
from taco_core.rbac_policy import SYSTEM_AUTHOR, assign_role, create_permission, create_role
from taco_core.rbac_service import RbacService

__all__ = ["OrganizationAdmins", "grant_organization_admin", "organization_admin_role"]

_PREFIX = "org-admin."
_MAX_ID = 64


def organization_admin_role(organization: str) -> str:
    """The role (and permission) ID of an organization's admins; a name too
    long for an ID is replaced by a digest of it."""
    role = _PREFIX + organization
    if len(role) <= _MAX_ID:
        return role
    return _PREFIX + hashlib.sha256(organization.encode()).hexdigest()[:32]


def grant_organization_admin(
    policy: RbacPolicy, organization: str, subject: str, now: datetime
) -> RbacPolicy:
    """``policy`` with ``subject`` holding the organization's admin role
    (created first if needed); unchanged if they hold it already."""
    role = organization_admin_role(organization)
    described = f"Every action on the units of organization {organization} ({organization}/*)"
    if role not in policy.permissions:
        rule = Rule(Effect.ALLOW, (Action.ALL.value,), (f"{organization}/*",))
        policy = create_permission(
            policy,
            role,
            (rule,),
            name=f"{organization} admin",
            description=described,
            created_at=now,
            created_by=SYSTEM_AUTHOR,
        )
    if role not in policy.roles:
        policy = create_role(
            policy,
            role,
            permissions=(role,),
            name=f"{organization} admin",
            description=described,
            created_at=now,
            created_by=SYSTEM_AUTHOR,
        )
    if role not in policy.assignments.get(subject, ()):
        policy = assign_role(policy, subject, role)
    return policy


class OrganizationAdmins:
    """An ``EventSink``: makes the person who created an organization its admin."""

    def __init__(self, rbac: RbacService, clock: Clock, events: EventSink | None = None) -> None:
        self.rbac = rbac
        self.clock = clock
        self.events: EventSink = events or EventBus()

    async def publish(self, event: Event) -> None:
        if not isinstance(event, OrganizationCreated):
            return
        principal = event.caller.principal
        if principal.kind is not PrincipalKind.USER or not principal.subject:
            return
        name, now = event.organization.name, self.clock.now()
        saved = await self.rbac.edit(
            lambda policy: grant_organization_admin(policy, name, principal.subject, now)
        )
        await self.events.publish(
            RbacChanged(
                caller=event.caller,
                at=self.clock.now(),
                operation="role_assigned",
                version=saved.version,
                role=organization_admin_role(name),
                subject=principal.subject,
            )
        )
