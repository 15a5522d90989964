"""The RBAC management use cases: what ``/v1/rbac`` and ``taco rbac`` do.

Every edit and every listing needs ``rbac.manage``, checked here and nowhere
else (routes and commands check nothing); only "who am I" and a test of the
caller's own access are open to every authenticated caller. Edits are the
pure functions of ``taco_core.rbac_policy``, applied by ``RbacService.edit``
under compare-and-swap, and each one saved is published as ``RbacChanged``
so the audit log records who changed what.

``rbac test`` answers with ``RbacService.decide``, the evaluator that
enforcement and list filtering use, so what it says is what happens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from attrs import frozen

from taco_core.auth import Principal, PrincipalKind
from taco_core.caller import Caller
from taco_core.errors import (
    InvalidInput,
    NotConfigured,
    PermissionDenied,
    PermissionNotFound,
    RoleNotFound,
)
from taco_core.event_bus import EventBus
from taco_core.events import AccessDenied, RbacChanged
from taco_core.ports import EventSink
from taco_core.rbac import (
    GLOBAL_RESOURCE,
    Action,
    Decision,
    Permission,
    RbacPolicy,
    Role,
    Rule,
    check_action,
    check_subject,
    rule_applies,
)
from taco_core.rbac_policy import (
    assign_permission,
    assign_role,
    create_permission,
    create_role,
    delete_permission,
    delete_role,
    revoke_permission,
    revoke_role,
)
from taco_core.rbac_service import RbacService

__all__ = ["HeldRoles", "RbacAdmin", "RbacTestResult"]

_DISABLED = (
    "authorization (RBAC) is off on this server because authentication is disabled "
    "(OPENTACO_AUTH_DISABLE); there is nothing to manage"
)


@frozen
class HeldRoles:
    """Who the caller is to RBAC: the principal and the roles it acts with
    (assigned, group-mapped, cut down to a token's narrowing)."""

    enabled: bool
    principal: Principal
    roles: tuple[str, ...]


@frozen
class RbacTestResult:
    """What ``rbac test`` answers: the decision (with the rule that made
    it, also as ``rule``), the roles it was made with, and the permissions of
    those roles that have a rule about this action on this resource."""

    subject: str
    decision: Decision
    roles: tuple[str, ...]
    applicable_permissions: tuple[str, ...]
    rule: Rule | None = None


class RbacAdmin:
    """Management use cases over an ``RbacService``; what they change is
    published on ``events``."""

    def __init__(self, rbac: RbacService, *, events: EventSink | None = None) -> None:
        self.rbac = rbac
        self.clock = rbac.clock
        self.events: EventSink = events or EventBus()

    # -- open to every caller ----------------------------------------------------

    async def me(self, caller: Caller) -> HeldRoles:
        """The caller's roles (none at all while authorization is off)."""
        if not self.rbac.enabled:
            return HeldRoles(False, caller.principal, ())
        return HeldRoles(True, caller.principal, await self.rbac.roles_of(caller.principal))

    async def test(
        self,
        caller: Caller,
        action: str,
        resource: str,
        *,
        subject: str | None = None,
        groups: Sequence[str] = (),
    ) -> RbacTestResult:
        """Whether ``subject`` (default: the caller, as it is now, groups and
        token narrowing included) may do ``action`` on ``resource`` (a unit
        ID, or ``*`` for actions on no unit), and why. Testing another
        subject needs ``rbac.manage``; it is decided from that subject's
        assignments plus the ``groups`` given (a subject's groups come from
        its login, which the server does not keep). ``InvalidInput`` for an
        unknown action or an empty resource."""
        check_action(action)
        if not resource:
            raise InvalidInput("a test needs a resource: a unit ID, or * for rbac/token actions")
        principal = caller.principal
        if (subject is not None and subject != principal.subject) or groups:
            await self._authorize(caller)
            principal = Principal(
                subject=check_subject(subject if subject is not None else principal.subject),
                kind=PrincipalKind.USER,
                groups=tuple(groups),
            )
        decision = await self.rbac.decide(principal, action, resource)
        if not self.rbac.enabled:
            return RbacTestResult(principal.subject, decision, (), ())
        policy = await self.rbac.policy()
        return RbacTestResult(
            principal.subject,
            decision,
            decision.roles,
            _applicable(policy, decision.roles, action, resource),
            _deciding_rule(policy, decision),
        )

    # -- reading (rbac.manage) -----------------------------------------------------

    async def policy(self, caller: Caller) -> RbacPolicy:
        """The whole current policy: permissions, roles, assignments."""
        await self._authorize(caller)
        return await self.rbac.policy()

    async def role(self, caller: Caller, role_id: str) -> Role:
        """One role; ``RoleNotFound``."""
        role = (await self.policy(caller)).roles.get(role_id)
        if role is None:
            raise RoleNotFound(role_id)
        return role

    async def permission(self, caller: Caller, permission_id: str) -> Permission:
        """One permission; ``PermissionNotFound``."""
        permission = (await self.policy(caller)).permissions.get(permission_id)
        if permission is None:
            raise PermissionNotFound(permission_id)
        return permission

    # -- editing (rbac.manage); each returns the policy as saved ----------------------

    async def create_permission(
        self,
        caller: Caller,
        permission_id: str,
        rules: Sequence[Rule],
        *,
        name: str = "",
        description: str = "",
    ) -> RbacPolicy:
        """Add a permission (``rbac_policy.create_permission``'s errors)."""
        now, by = self.clock.now(), _author(caller)
        return await self._edit(
            caller,
            "permission_created",
            lambda p: create_permission(
                p,
                permission_id,
                rules,
                name=name,
                description=description,
                created_at=now,
                created_by=by,
            ),
            permission=permission_id,
        )

    async def delete_permission(
        self, caller: Caller, permission_id: str, *, cascade: bool = False
    ) -> RbacPolicy:
        """Remove a permission (``StillReferenced`` while roles use it, unless ``cascade``)."""
        return await self._edit(
            caller,
            "permission_deleted",
            lambda p: delete_permission(p, permission_id, cascade=cascade),
            permission=permission_id,
        )

    async def create_role(
        self,
        caller: Caller,
        role_id: str,
        *,
        permissions: Sequence[str] = (),
        name: str = "",
        description: str = "",
    ) -> RbacPolicy:
        """Add a role (``rbac_policy.create_role``'s errors)."""
        now, by = self.clock.now(), _author(caller)
        return await self._edit(
            caller,
            "role_created",
            lambda p: create_role(
                p,
                role_id,
                permissions=permissions,
                name=name,
                description=description,
                created_at=now,
                created_by=by,
            ),
            role=role_id,
        )

    async def delete_role(
        self, caller: Caller, role_id: str, *, cascade: bool = False
    ) -> RbacPolicy:
        """Remove a role (``StillReferenced`` while subjects hold it, unless ``cascade``)."""
        return await self._edit(
            caller,
            "role_deleted",
            lambda p: delete_role(p, role_id, cascade=cascade),
            role=role_id,
        )

    async def assign_permission(
        self, caller: Caller, role_id: str, permission_id: str
    ) -> RbacPolicy:
        """Give a role a permission; ``AlreadyAssigned`` if it has it."""
        return await self._edit(
            caller,
            "permission_assigned",
            lambda p: assign_permission(p, role_id, permission_id),
            role=role_id,
            permission=permission_id,
        )

    async def revoke_permission(
        self, caller: Caller, role_id: str, permission_id: str
    ) -> RbacPolicy:
        """Take a permission from a role; ``NotAssigned`` if it lacks it."""
        return await self._edit(
            caller,
            "permission_revoked",
            lambda p: revoke_permission(p, role_id, permission_id),
            role=role_id,
            permission=permission_id,
        )

    async def assign_role(self, caller: Caller, subject: str, role_id: str) -> RbacPolicy:
        """Give a subject a role."""
        return await self._edit(
            caller,
            "role_assigned",
            lambda p: assign_role(p, subject, role_id),
            role=role_id,
            subject=subject,
        )

    async def revoke_role(self, caller: Caller, subject: str, role_id: str) -> RbacPolicy:
        """Take a role from a subject (``NotAssigned`` if it lacks it)."""
        return await self._edit(
            caller,
            "role_revoked",
            lambda p: revoke_role(p, subject, role_id),
            role=role_id,
            subject=subject,
        )

    # -- plumbing ----------------------------------------------------------------

    async def _edit(
        self,
        caller: Caller,
        operation: str,
        change: Callable[[RbacPolicy], RbacPolicy],
        *,
        role: str = "",
        permission: str = "",
        subject: str = "",
    ) -> RbacPolicy:
        await self._authorize(caller)
        saved = await self.rbac.edit(change)
        await self.events.publish(
            RbacChanged(
                caller=caller,
                at=self.clock.now(),
                operation=operation,
                version=saved.version,
                role=role,
                permission=permission,
                subject=subject,
            )
        )
        return saved

    async def _authorize(self, caller: Caller) -> None:
        if not self.rbac.enabled:
            raise NotConfigured(_DISABLED)
        if caller.is_system:
            return
        try:
            await self.rbac.check(caller.principal, Action.RBAC_MANAGE, GLOBAL_RESOURCE)
        except PermissionDenied as exc:
            await self.events.publish(
                AccessDenied(
                    caller=caller,
                    at=self.clock.now(),
                    action=Action.RBAC_MANAGE,
                    resource=GLOBAL_RESOURCE,
                    reason=exc.reason,
                )
            )
            raise


def _author(caller: Caller) -> str:
    principal = caller.principal
    if principal.token_id:
        return f"{principal.subject} (API token {principal.token_id})"
    return principal.subject


def _deciding_rule(policy: RbacPolicy, decision: Decision) -> Rule | None:
    """The rule a decision names, if the policy (which may have moved on
    since the decision) still holds it."""
    if decision.permission is None or decision.rule is None:
        return None
    permission = policy.permissions.get(decision.permission)
    if permission is None or decision.rule >= len(permission.rules):
        return None
    return permission.rules[decision.rule]


def _applicable(
    policy: RbacPolicy, roles: Sequence[str], action: str, resource: str
) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for role_id in sorted(roles):
        role = policy.roles.get(role_id)
        for permission_id in role.permissions if role is not None else ():
            permission = policy.permissions.get(permission_id)
            if permission is not None and any(
                rule_applies(rule, action, resource) for rule in permission.rules
            ):
                found[permission_id] = None
    return tuple(found)
