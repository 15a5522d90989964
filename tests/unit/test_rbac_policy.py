"""Pure edits of the RBAC policy: each checks, raises typed errors, or bumps the version."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from taco_core.errors import (
    AlreadyAssigned,
    Conflict,
    InvalidInput,
    NotAssigned,
    NotFound,
    PermissionAlreadyExists,
    PermissionNotFound,
    RoleAlreadyExists,
    RoleNotFound,
    StillReferenced,
)
from taco_core.rbac import EMPTY_POLICY, GLOBAL_RESOURCE, Effect, RbacPolicy, Rule, decide
from taco_core.rbac_policy import (
    ADMIN,
    READER,
    assign_permission,
    assign_role,
    create_permission,
    create_role,
    delete_permission,
    delete_role,
    initial_policy,
    revoke_permission,
    revoke_role,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DEV_WRITE = Rule(Effect.ALLOW, ("unit.read", "unit.write"), ("dev/*",))
NO_PROD = Rule(Effect.DENY, ("*",), ("prod/*",))


@pytest.fixture
def base() -> RbacPolicy:
    return initial_policy(["admin"], NOW)


def test_initial_policy_admin_and_reader(base: RbacPolicy) -> None:
    """A fresh install has admin (everything) and reader (unit.read on *), admin assigned."""
    assert base.version == 1
    assert set(base.permissions) == set(base.roles) == {ADMIN, READER}
    assert base.assignments == {"admin": (ADMIN,)}
    assert base.permissions[ADMIN].created_at == NOW
    for action in ("unit.write", "unit.delete", "rbac.manage", "token.manage"):
        assert decide(base, [ADMIN], action, "any/unit").allowed
    assert decide(base, [ADMIN], "rbac.manage", GLOBAL_RESOURCE).allowed
    assert decide(base, [READER], "unit.read", "any/unit").allowed
    assert decide(base, [READER], "unit.read_outputs", "any/unit").allowed
    assert not decide(base, [READER], "unit.write", "any/unit").allowed
    assert not decide(base, [], "unit.read", "any/unit").allowed


def test_initial_policy_without_admins_denies_everyone() -> None:
    """With no admin subjects, nobody holds a role."""
    assert initial_policy([], NOW).assignments == {}


def test_create_permission(base: RbacPolicy) -> None:
    """A new permission is stored with its rules and metadata; the version rises by one."""
    p = create_permission(
        base, "dev-write", [DEV_WRITE], description="CI on dev", created_at=NOW, created_by="me"
    )
    assert p.version == base.version + 1
    perm = p.permissions["dev-write"]
    assert perm.rules == (DEV_WRITE,)
    assert (perm.name, perm.description, perm.created_by) == ("dev-write", "CI on dev", "me")
    assert base.permissions.keys() == {ADMIN, READER}  # the old policy is untouched


@pytest.mark.parametrize(
    ("permission_id", "rules", "error"),
    [
        ("admin", [DEV_WRITE], PermissionAlreadyExists),
        ("bad id", [DEV_WRITE], InvalidInput),
        ("x", [], InvalidInput),
        ("x", [Rule(Effect.ALLOW, ("state.read",), ("*",))], InvalidInput),
        ("x", [Rule(Effect.ALLOW, ("unit.read",), ("/dev",))], InvalidInput),
    ],
)
def test_create_permission_errors(
    base: RbacPolicy, permission_id: str, rules: list[Rule], error: type[Exception]
) -> None:
    """Taken IDs conflict; bad IDs, empty rule lists and bad rules are invalid input."""
    with pytest.raises(error):
        create_permission(base, permission_id, rules)


def test_create_role_with_and_without_permissions(base: RbacPolicy) -> None:
    """A role may start empty or with existing permissions (duplicates collapse)."""
    p = create_role(base, "ci", name="CI", permissions=[READER, READER])
    assert p.roles["ci"].permissions == (READER,)
    assert p.roles["ci"].name == "CI"
    with pytest.raises(PermissionNotFound):
        create_role(base, "ci", permissions=["nope"])
    with pytest.raises(RoleAlreadyExists):
        create_role(base, ADMIN)
    with pytest.raises(InvalidInput):
        create_role(base, "")


def test_assign_and_revoke_permission(base: RbacPolicy) -> None:
    """Permissions join and leave roles; repeats and absences are typed errors."""
    p = create_permission(create_role(base, "ci"), "dev-write", [DEV_WRITE])
    p = assign_permission(p, "ci", "dev-write")
    assert p.roles["ci"].permissions == ("dev-write",)
    with pytest.raises(AlreadyAssigned):
        assign_permission(p, "ci", "dev-write")
    with pytest.raises(RoleNotFound):
        assign_permission(p, "nope", "dev-write")
    with pytest.raises(PermissionNotFound):
        assign_permission(p, "ci", "nope")
    p = revoke_permission(p, "ci", "dev-write")
    assert p.roles["ci"].permissions == ()
    with pytest.raises(NotAssigned, match="'dev-write' is not assigned to 'ci'"):
        revoke_permission(p, "ci", "dev-write")
    with pytest.raises(RoleNotFound):
        revoke_permission(p, "nope", "dev-write")


def test_assign_and_revoke_role(base: RbacPolicy) -> None:
    """Subjects gain and lose roles; a subject left with none is dropped."""
    p = assign_role(base, "ci-dev", READER)
    assert p.assignments["ci-dev"] == (READER,)
    with pytest.raises(AlreadyAssigned):
        assign_role(p, "ci-dev", READER)
    with pytest.raises(RoleNotFound):
        assign_role(p, "ci-dev", "nope")
    with pytest.raises(InvalidInput):
        assign_role(p, " ", READER)
    p = revoke_role(p, "ci-dev", READER)
    assert "ci-dev" not in p.assignments
    with pytest.raises(NotAssigned):
        revoke_role(p, "ci-dev", READER)


def test_delete_permission_refuses_while_used_unless_cascade(base: RbacPolicy) -> None:
    """A permission in use is not deleted silently; cascade also removes it from roles."""
    with pytest.raises(StillReferenced) as err:
        delete_permission(base, READER)
    assert err.value.referrers == (READER,)
    assert "revoke it from them first" in str(err.value)
    p = delete_permission(base, READER, cascade=True)
    assert READER not in p.permissions
    assert p.roles[READER].permissions == ()
    with pytest.raises(PermissionNotFound):
        delete_permission(p, READER)


def test_delete_role_refuses_while_assigned_unless_cascade(base: RbacPolicy) -> None:
    """A held role is not deleted silently; cascade also revokes it from its holders."""
    p = assign_role(base, "bob", READER)
    with pytest.raises(StillReferenced, match="'bob'"):
        delete_role(p, READER)
    p = delete_role(p, READER, cascade=True)
    assert READER not in p.roles
    assert "bob" not in p.assignments
    assert p.assignments["admin"] == (ADMIN,)
    assert delete_role(create_role(base, "unused"), "unused").roles.keys() == {ADMIN, READER}
    with pytest.raises(RoleNotFound):
        delete_role(p, READER)


def test_error_kinds_map_to_not_found_and_conflict() -> None:
    """Front ends map by base class: missing things are NotFound, clashes Conflict."""
    assert issubclass(RoleNotFound, NotFound)
    assert issubclass(PermissionNotFound, NotFound)
    assert issubclass(NotAssigned, NotFound)
    for conflict in (RoleAlreadyExists, PermissionAlreadyExists, AlreadyAssigned, StillReferenced):
        assert issubclass(conflict, Conflict)


def test_every_edit_bumps_the_version_by_one(base: RbacPolicy) -> None:
    """Each successful edit yields exactly the next version."""
    steps: list[Callable[[RbacPolicy], RbacPolicy]] = [
        lambda p: create_permission(p, "np", [NO_PROD]),
        lambda p: create_role(p, "ci"),
        lambda p: assign_permission(p, "ci", "np"),
        lambda p: assign_role(p, "ci-dev", "ci"),
        lambda p: revoke_role(p, "ci-dev", "ci"),
        lambda p: revoke_permission(p, "ci", "np"),
        lambda p: delete_role(p, "ci"),
        lambda p: delete_permission(p, "np"),
    ]
    p = base
    for step in steps:
        nxt = step(p)
        assert nxt.version == p.version + 1
        p = nxt
    assert (p.permissions, p.roles, p.assignments) == (
        base.permissions,
        base.roles,
        base.assignments,
    )


def test_edits_work_on_the_empty_policy() -> None:
    """Edits apply to the empty policy of an uninitialised install (version 0)."""
    p = create_role(EMPTY_POLICY, "r")
    assert p.version == 1
