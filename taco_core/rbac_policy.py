"""Changes to the RBAC policy, as pure functions from one version to the next.

Each edit checks its inputs, raises a typed error when it cannot apply
(nothing is changed then), and otherwise returns a new ``RbacPolicy`` whose
``version`` is one higher. ``RbacService.edit`` runs them under
compare-and-swap, re-applying an edit to the newer policy when another admin
saved first, so the checks always run against what is really stored.

Deleting a role or permission that is still referenced is refused
(``StillReferenced`` names the referrers) unless ``cascade=True``, which
removes the references too. Refusing is the default because the effect of a
deletion is otherwise easy to miss: deleting a permission that holds a deny
rule widens access for every role that used it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import attrs

from taco_core.errors import (
    AlreadyAssigned,
    InvalidInput,
    NotAssigned,
    PermissionAlreadyExists,
    PermissionNotFound,
    RoleAlreadyExists,
    RoleNotFound,
    StillReferenced,
)
from taco_core.rbac import (
    GLOBAL_RESOURCE,
    Action,
    Effect,
    Permission,
    RbacPolicy,
    Role,
    Rule,
    check_id,
    check_rule,
    check_subject,
)

ADMIN = "admin"
READER = "reader"
SYSTEM_AUTHOR = "opentaco"

_MAX_TEXT = 1000


def _check_text(what: str, value: str) -> str:
    if len(value) > _MAX_TEXT or not value.isprintable():
        raise InvalidInput(f"{what} must be printable text of at most {_MAX_TEXT} characters")
    return value


def _next(
    policy: RbacPolicy,
    *,
    permissions: Mapping[str, Permission] | None = None,
    roles: Mapping[str, Role] | None = None,
    assignments: Mapping[str, tuple[str, ...]] | None = None,
) -> RbacPolicy:
    return RbacPolicy(
        version=policy.version + 1,
        permissions=policy.permissions if permissions is None else permissions,
        roles=policy.roles if roles is None else roles,
        assignments=policy.assignments if assignments is None else assignments,
    )


def initial_policy(admin_subjects: Iterable[str], now: datetime) -> RbacPolicy:
    """The policy of a fresh install (version 1): permissions and roles
    ``admin`` (every action on everything) and ``reader`` (``unit.read`` on
    every unit), with ``admin`` assigned to each of ``admin_subjects``."""
    everything = Rule(Effect.ALLOW, (Action.ALL.value,), (GLOBAL_RESOURCE,))
    read_all = Rule(Effect.ALLOW, (Action.UNIT_READ.value,), (GLOBAL_RESOURCE,))
    policy = RbacPolicy()
    for ident, rule, name, description in (
        (ADMIN, everything, "Admin", "Every action on every unit and setting"),
        (READER, read_all, "Reader", "Reads every unit"),
    ):
        policy = create_permission(
            policy,
            ident,
            (rule,),
            name=name,
            description=description,
            created_at=now,
            created_by=SYSTEM_AUTHOR,
        )
        policy = create_role(
            policy,
            ident,
            permissions=(ident,),
            name=name,
            description=description,
            created_at=now,
            created_by=SYSTEM_AUTHOR,
        )
    assignments = {check_subject(s): (ADMIN,) for s in admin_subjects}
    return RbacPolicy(
        version=1, permissions=policy.permissions, roles=policy.roles, assignments=assignments
    )


# -- permissions ------------------------------------------------------------------


def create_permission(
    policy: RbacPolicy,
    permission_id: str,
    rules: Sequence[Rule],
    *,
    name: str = "",
    description: str = "",
    created_at: datetime | None = None,
    created_by: str = "",
) -> RbacPolicy:
    """Add a permission. ``InvalidInput`` for a bad ID, no rules or a bad
    rule; ``PermissionAlreadyExists`` if the ID is taken."""
    check_id("permission", permission_id)
    if not rules:
        raise InvalidInput(f"permission {permission_id!r} needs at least one rule")
    for rule in rules:
        check_rule(rule)
    if permission_id in policy.permissions:
        raise PermissionAlreadyExists(permission_id)
    permission = Permission(
        id=permission_id,
        rules=tuple(rules),
        name=_check_text("permission name", name) or permission_id,
        description=_check_text("permission description", description),
        created_at=created_at,
        created_by=created_by,
    )
    return _next(policy, permissions={**policy.permissions, permission_id: permission})


def delete_permission(
    policy: RbacPolicy, permission_id: str, *, cascade: bool = False
) -> RbacPolicy:
    """Remove a permission. ``PermissionNotFound`` if absent. While roles use
    it: ``StillReferenced`` naming them, or with ``cascade`` it is removed
    from them as well."""
    if permission_id not in policy.permissions:
        raise PermissionNotFound(permission_id)
    users = tuple(sorted(r.id for r in policy.roles.values() if permission_id in r.permissions))
    if users and not cascade:
        raise StillReferenced("permission", permission_id, users)
    roles = {
        rid: attrs.evolve(r, permissions=tuple(p for p in r.permissions if p != permission_id))
        if rid in users
        else r
        for rid, r in policy.roles.items()
    }
    permissions = {k: v for k, v in policy.permissions.items() if k != permission_id}
    return _next(policy, permissions=permissions, roles=roles)


# -- roles ------------------------------------------------------------------------


def create_role(
    policy: RbacPolicy,
    role_id: str,
    *,
    permissions: Sequence[str] = (),
    name: str = "",
    description: str = "",
    created_at: datetime | None = None,
    created_by: str = "",
) -> RbacPolicy:
    """Add a role, optionally with permissions. ``InvalidInput`` for a bad
    ID; ``RoleAlreadyExists``; ``PermissionNotFound`` for a missing permission."""
    check_id("role", role_id)
    if role_id in policy.roles:
        raise RoleAlreadyExists(role_id)
    for permission_id in permissions:
        if permission_id not in policy.permissions:
            raise PermissionNotFound(permission_id)
    role = Role(
        id=role_id,
        permissions=tuple(dict.fromkeys(permissions)),
        name=_check_text("role name", name) or role_id,
        description=_check_text("role description", description),
        created_at=created_at,
        created_by=created_by,
    )
    return _next(policy, roles={**policy.roles, role_id: role})


def delete_role(policy: RbacPolicy, role_id: str, *, cascade: bool = False) -> RbacPolicy:
    """Remove a role. ``RoleNotFound`` if absent. While subjects hold it:
    ``StillReferenced`` naming them, or with ``cascade`` it is revoked from
    them as well (a subject left with no roles is dropped). A group mapping in
    the configuration that names the role then grants nothing."""
    if role_id not in policy.roles:
        raise RoleNotFound(role_id)
    holders = tuple(sorted(s for s, roles in policy.assignments.items() if role_id in roles))
    if holders and not cascade:
        raise StillReferenced("role", role_id, holders)
    assignments = _without(policy.assignments, role_id)
    roles = {k: v for k, v in policy.roles.items() if k != role_id}
    return _next(policy, roles=roles, assignments=assignments)


def assign_permission(policy: RbacPolicy, role_id: str, permission_id: str) -> RbacPolicy:
    """Give a role a permission. ``RoleNotFound``, ``PermissionNotFound``;
    ``AlreadyAssigned`` if the role has it."""
    role = _role(policy, role_id)
    if permission_id not in policy.permissions:
        raise PermissionNotFound(permission_id)
    if permission_id in role.permissions:
        raise AlreadyAssigned("permission", permission_id, role_id)
    changed = attrs.evolve(role, permissions=(*role.permissions, permission_id))
    return _next(policy, roles={**policy.roles, role_id: changed})


def revoke_permission(policy: RbacPolicy, role_id: str, permission_id: str) -> RbacPolicy:
    """Take a permission from a role. ``RoleNotFound``; ``NotAssigned`` if
    the role does not have it."""
    role = _role(policy, role_id)
    if permission_id not in role.permissions:
        raise NotAssigned("permission", permission_id, role_id)
    changed = attrs.evolve(
        role, permissions=tuple(p for p in role.permissions if p != permission_id)
    )
    return _next(policy, roles={**policy.roles, role_id: changed})


# -- subjects ---------------------------------------------------------------------


def assign_role(policy: RbacPolicy, subject: str, role_id: str) -> RbacPolicy:
    """Give a subject a role. ``InvalidInput`` for a bad subject;
    ``RoleNotFound``; ``AlreadyAssigned`` if the subject holds it."""
    check_subject(subject)
    _role(policy, role_id)
    held = policy.assignments.get(subject, ())
    if role_id in held:
        raise AlreadyAssigned("role", role_id, subject)
    return _next(policy, assignments={**policy.assignments, subject: (*held, role_id)})


def revoke_role(policy: RbacPolicy, subject: str, role_id: str) -> RbacPolicy:
    """Take a role from a subject (a subject left with none is dropped).
    ``NotAssigned`` if the subject does not hold it, even when the role no
    longer exists."""
    if role_id not in policy.assignments.get(subject, ()):
        raise NotAssigned("role", role_id, subject)
    rest = tuple(r for r in policy.assignments[subject] if r != role_id)
    assignments = {s: r for s, r in policy.assignments.items() if s != subject}
    if rest:
        assignments[subject] = rest
    return _next(policy, assignments=assignments)


def _role(policy: RbacPolicy, role_id: str) -> Role:
    role = policy.roles.get(role_id)
    if role is None:
        raise RoleNotFound(role_id)
    return role


def _without(
    assignments: Mapping[str, tuple[str, ...]], role_id: str
) -> dict[str, tuple[str, ...]]:
    kept = {s: tuple(r for r in roles if r != role_id) for s, roles in assignments.items()}
    return {s: roles for s, roles in kept.items() if roles}
