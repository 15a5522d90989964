"""``taco rbac ...``: who may do what on which units, over the server's RBAC API.

Like the auth commands they need a server (an embedded SQLite file has no
authorization: whoever opens it may do anything) and speak to an API outside
the ``StateControl`` port (``RemoteRbac``). The server decides who may
manage; a refusal is the core's ``PermissionDenied``, which ``taco_cli.main``
maps to its exit code like any error.

Handlers return an exit code only where the result itself is one: ``rbac
test`` exits 0 when the action is allowed and 4 when it is denied, so a
script can ask ``if taco rbac test ci-dev unit.write prod/app; then``.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from attrs import frozen

from taco_adapters.remote import RemoteRbac
from taco_adapters.wire import (
    assignments_json,
    held_roles_json,
    permission_json,
    rbac_test_json,
    role_json,
)
from taco_cli.output import Output, table
from taco_core.rbac import Permission, RbacPolicy, Role

EXIT_ALLOWED = 0
EXIT_DENIED = 4


@frozen
class RbacContext:
    """What the RBAC commands need, wired by ``taco_cli.main``."""

    server: str
    out: Output
    connect: Callable[[], RemoteRbac]


RbacHandler = Callable[[RbacContext, argparse.Namespace], Awaitable[int | None]]


def _list(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(values) or "-"


# -- me, test ----------------------------------------------------------------------


async def me(ctx: RbacContext, args: argparse.Namespace) -> None:
    async with ctx.connect() as api:
        held = await api.me()
    doc = held_roles_json(held)
    principal = held.principal
    kind = str(principal.kind) + (f" (ID {principal.token_id})" if principal.token_id else "")
    lines = [
        f"Server:   {ctx.server}",
        f"Subject:  {principal.subject}",
        f"Kind:     {kind}",
        f"Groups:   {_list(principal.groups)}",
        f"Roles:    {_list(held.roles)}",
    ]
    if principal.narrowed_to is not None:
        lines.append(f"Narrowed: to {_list(principal.narrowed_to)}")
    if "message" in doc:
        lines.append(f"Note:     {doc['message']}")
    ctx.out.result(doc, lines)


async def test(ctx: RbacContext, args: argparse.Namespace) -> int:
    async with ctx.connect() as api:
        result = await api.test(args.action, args.unit, subject=args.subject)
    d = result.decision
    verdict = "allowed" if d.allowed else "denied"
    target = "everything (*)" if d.resource == "*" else d.resource
    lines = [f"{verdict}: {result.subject} {d.action} on {target}"]
    decided = d.reason
    if result.rule is not None:
        decided += f" ({result.rule})"
    lines.append(f"Decided:  {decided}")
    lines.append(f"Roles:    {_list(result.roles)}")
    if result.applicable_permissions:
        lines.append(f"Applicable permissions: {', '.join(result.applicable_permissions)}")
    ctx.out.result(rbac_test_json(result), lines)
    return EXIT_ALLOWED if d.allowed else EXIT_DENIED


# -- subjects ----------------------------------------------------------------------


async def user_assign(ctx: RbacContext, args: argparse.Namespace) -> None:
    async with ctx.connect() as api:
        roles = await api.assign_role(args.subject, args.role)
    ctx.out.result(
        {"subject": args.subject, "role": args.role, "roles": list(roles)},
        [f"Role {args.role} assigned to {args.subject} (roles now: {_list(roles)})"],
    )


async def user_revoke(ctx: RbacContext, args: argparse.Namespace) -> None:
    async with ctx.connect() as api:
        roles = await api.revoke_role(args.subject, args.role)
    ctx.out.result(
        {"subject": args.subject, "role": args.role, "roles": list(roles)},
        [f"Role {args.role} revoked from {args.subject} (roles now: {_list(roles)})"],
    )


async def user_list(ctx: RbacContext, args: argparse.Namespace) -> None:
    async with ctx.connect() as api:
        assignments = await api.assignments()
    docs = assignments_json(RbacPolicy(assignments=assignments))
    for doc in docs:
        del doc["version"]
    if not assignments:
        lines = ["No subject holds a role"]
    else:
        rows = [[s, ", ".join(assignments[s])] for s in sorted(assignments)]
        lines = table(["SUBJECT", "ROLES"], rows)
    ctx.out.result(docs, lines)


# -- roles -------------------------------------------------------------------------


async def role_create(ctx: RbacContext, args: argparse.Namespace) -> None:
    async with ctx.connect() as api:
        role = await api.create_role(args.role_id, name=args.name, description=args.description)
    ctx.out.result(role_json(role), [f"Role created: {role.id}"])


def _role_rows(roles: list[Role]) -> list[list[str]]:
    return [[r.id, r.name, _list(r.permissions), r.description or "-"] for r in roles]


async def role_list(ctx: RbacContext, args: argparse.Namespace) -> None:
    async with ctx.connect() as api:
        roles = await api.roles()
    lines = (
        table(["ID", "NAME", "PERMISSIONS", "DESCRIPTION"], _role_rows(roles))
        if roles
        else ["No roles"]
    )
    ctx.out.result([role_json(r) for r in roles], lines)


async def role_delete(ctx: RbacContext, args: argparse.Namespace) -> None:
    async with ctx.connect() as api:
        await api.delete_role(args.role_id, cascade=args.cascade)
    ctx.out.result({"id": args.role_id, "deleted": True}, [f"Role deleted: {args.role_id}"])


async def role_assign_permission(ctx: RbacContext, args: argparse.Namespace) -> None:
    async with ctx.connect() as api:
        role = await api.assign_permission(args.role, args.permission)
    ctx.out.result(
        role_json(role),
        [
            f"Permission {args.permission} assigned to role {role.id} "
            f"(permissions now: {_list(role.permissions)})"
        ],
    )


async def role_revoke_permission(ctx: RbacContext, args: argparse.Namespace) -> None:
    async with ctx.connect() as api:
        await api.revoke_permission(args.role, args.permission)
    ctx.out.result(
        {"role": args.role, "permission": args.permission, "revoked": True},
        [f"Permission {args.permission} revoked from role {args.role}"],
    )


# -- permissions -------------------------------------------------------------------


def _permission_lines(permission: Permission) -> list[str]:
    return [f"  {n}. {rule}" for n, rule in enumerate(permission.rules, 1)]


async def permission_create(ctx: RbacContext, args: argparse.Namespace) -> None:
    async with ctx.connect() as api:
        permission = await api.create_permission(
            args.permission_id, args.rules, name=args.name, description=args.description
        )
    ctx.out.result(
        permission_json(permission),
        [f"Permission created: {permission.id}", *_permission_lines(permission)],
    )


async def permission_list(ctx: RbacContext, args: argparse.Namespace) -> None:
    async with ctx.connect() as api:
        permissions = await api.permissions()
    rows = [[p.id, p.name, "; ".join(str(r) for r in p.rules)] for p in permissions]
    lines = table(["ID", "NAME", "RULES"], rows) if permissions else ["No permissions"]
    ctx.out.result([permission_json(p) for p in permissions], lines)


async def permission_delete(ctx: RbacContext, args: argparse.Namespace) -> None:
    async with ctx.connect() as api:
        await api.delete_permission(args.permission_id, cascade=args.cascade)
    ctx.out.result(
        {"id": args.permission_id, "deleted": True},
        [f"Permission deleted: {args.permission_id}"],
    )


RBAC_HANDLERS: dict[str, RbacHandler] = {
    "rbac.me": me,
    "rbac.test": test,
    "rbac.user.assign": user_assign,
    "rbac.user.revoke": user_revoke,
    "rbac.user.ls": user_list,
    "rbac.role.create": role_create,
    "rbac.role.ls": role_list,
    "rbac.role.rm": role_delete,
    "rbac.role.assign-permission": role_assign_permission,
    "rbac.role.revoke-permission": role_revoke_permission,
    "rbac.permission.create": permission_create,
    "rbac.permission.ls": permission_list,
    "rbac.permission.rm": permission_delete,
}
