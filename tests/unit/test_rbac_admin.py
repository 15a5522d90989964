"""The RBAC management use cases: rbac.manage is asked for once, here; every
saved edit is published; rbac test answers with the enforcing evaluator."""

from __future__ import annotations

import pytest

from taco_adapters.clock import ManualClock
from taco_adapters.memory import MemoryRbacStore
from taco_core.auth import Principal, PrincipalKind
from taco_core.caller import SYSTEM_CALLER, Caller
from taco_core.errors import (
    NotAssigned,
    NotConfigured,
    PermissionDenied,
    RoleNotFound,
    StillReferenced,
    WouldLockOut,
)
from taco_core.event_bus import EventBus
from taco_core.events import AccessDenied, RbacChanged
from taco_core.model import Surface
from taco_core.rbac import Basis, Effect, parse_rule
from taco_core.rbac_admin import RbacAdmin
from taco_core.rbac_service import RbacService
from tests.unit.conftest import EventLog

ROOT = Caller(Principal(subject="root", kind=PrincipalKind.USER), Surface.API)
ALICE = Caller(Principal(subject="alice", kind=PrincipalKind.USER, groups=("devs",)), Surface.API)


@pytest.fixture
async def admin(clock: ManualClock, events: EventLog) -> RbacAdmin:
    rbac = RbacService(MemoryRbacStore(), clock, group_roles={"devs": ("reader",)})
    await rbac.ensure_initialised(["root"])
    return RbacAdmin(rbac, events=EventBus([events]))


async def test_edits_need_rbac_manage_and_refusals_are_published(
    admin: RbacAdmin, events: EventLog
) -> None:
    """A caller without rbac.manage can neither list nor edit, and nothing changes."""
    before = await admin.rbac.policy()
    for attempt in (
        admin.policy(ALICE),
        admin.create_role(ALICE, "ci-dev"),
        admin.assign_role(ALICE, "alice", "admin"),
    ):
        with pytest.raises(PermissionDenied) as refused:
            await attempt
        assert refused.value.action == "rbac.manage"
    assert await admin.rbac.policy() == before
    assert [type(e) for e in events.seen] == [AccessDenied] * 3


async def test_a_ci_role_is_built_step_by_step_and_each_step_published(
    admin: RbacAdmin, events: EventLog
) -> None:
    """Permission, role, assignment: three versions, three RbacChanged events
    naming what changed, who changed it, and the version saved."""
    rules = [parse_rule("allow:unit.read,unit.write,unit.lock:dev/*")]
    saved = await admin.create_permission(ROOT, "dev-write", rules, name="Dev writers")
    assert saved.permissions["dev-write"].created_by == "root"
    await admin.create_role(ROOT, "ci-dev", permissions=["dev-write"])
    final = await admin.assign_role(ROOT, "ci-dev", "ci-dev")
    assert final.assignments["ci-dev"] == ("ci-dev",)
    changes = [e for e in events.seen if isinstance(e, RbacChanged)]
    assert [(e.operation, e.version, e.caller) for e in changes] == [
        ("permission_created", 2, ROOT),
        ("role_created", 3, ROOT),
        ("role_assigned", 4, ROOT),
    ]
    assert (changes[2].subject, changes[2].role) == ("ci-dev", "ci-dev")


async def test_deleting_what_is_in_use_needs_cascade(admin: RbacAdmin) -> None:
    """A held role is refused deletion naming its holders; cascade revokes it too."""
    await admin.create_role(ROOT, "ops")
    await admin.assign_role(ROOT, "bob", "ops")
    with pytest.raises(StillReferenced, match="'bob'"):
        await admin.delete_role(ROOT, "ops")
    saved = await admin.delete_role(ROOT, "ops", cascade=True)
    assert "bob" not in saved.assignments
    with pytest.raises(RoleNotFound):
        await admin.role(ROOT, "ops")
    with pytest.raises(NotAssigned):
        await admin.revoke_role(ROOT, "bob", "ops")


async def test_the_last_admin_cannot_be_revoked(admin: RbacAdmin) -> None:
    """Revoking admin from its only holder would lock everyone out: refused."""
    with pytest.raises(WouldLockOut):
        await admin.revoke_role(ROOT, "root", "admin")


async def test_anyone_may_test_themselves_and_see_which_rule_decided(admin: RbacAdmin) -> None:
    """A self-test needs no rbac.manage; it reports the deciding rule and the
    roles (from the caller's groups too)."""
    result = await admin.test(ALICE, "unit.read", "prod/app")
    assert result.decision.allowed and result.decision.basis is Basis.ALLOW_RULE
    assert (result.decision.role, result.decision.permission) == ("reader", "reader")
    assert result.rule is not None and result.rule.effect is Effect.ALLOW
    assert result.roles == ("reader",)
    assert result.applicable_permissions == ("reader",)
    denied = await admin.test(ALICE, "unit.write", "prod/app")
    assert not denied.decision.allowed and denied.rule is None
    assert denied.decision.basis is Basis.NO_MATCHING_ALLOW


async def test_testing_another_subject_needs_rbac_manage(admin: RbacAdmin) -> None:
    """Asking about someone else (or other groups) is management; the answer
    uses that subject's assignments and the groups given."""
    with pytest.raises(PermissionDenied):
        await admin.test(ALICE, "unit.read", "x", subject="root")
    with pytest.raises(PermissionDenied):
        await admin.test(ALICE, "unit.read", "x", groups=["admins"])
    nobody = await admin.test(ROOT, "unit.read", "x", subject="ghost")
    assert not nobody.decision.allowed and nobody.decision.basis is Basis.NO_ROLES
    grouped = await admin.test(ROOT, "unit.read", "x", subject="ghost", groups=["devs"])
    assert grouped.decision.allowed and grouped.subject == "ghost"


async def test_a_deny_is_reported_as_the_deciding_rule(admin: RbacAdmin) -> None:
    """rbac test names the deny that won over an allow, as enforcement decides."""
    rules = [parse_rule("allow:*:*"), parse_rule("deny:unit.delete:prod/*")]
    await admin.create_permission(ROOT, "careful", rules)
    await admin.create_role(ROOT, "careful", permissions=["careful"])
    await admin.assign_role(ROOT, "carol", "careful")
    result = await admin.test(ROOT, "unit.delete", "prod/db", subject="carol")
    assert not result.decision.allowed
    assert result.decision.rule == 1 and result.rule == rules[1]
    assert "denied by rule 2 of permission 'careful'" in result.decision.reason
    assert result.applicable_permissions == ("careful",)


async def test_with_authorization_off_there_is_nothing_to_manage(clock: ManualClock) -> None:
    """RBAC disabled: management is NotConfigured, me and self-tests say it is off."""
    off = RbacAdmin(RbacService(MemoryRbacStore(), clock, enabled=False))
    with pytest.raises(NotConfigured, match="OPENTACO_AUTH_DISABLE"):
        await off.create_role(ROOT, "x")
    assert not (await off.me(ALICE)).enabled
    result = await off.test(ALICE, "unit.delete", "prod/db")
    assert result.decision.allowed and result.decision.basis is Basis.DISABLED


async def test_the_system_caller_manages_without_a_role(admin: RbacAdmin) -> None:
    """The service's own work is never refused."""
    saved = await admin.create_role(SYSTEM_CALLER, "system-made")
    assert "system-made" in saved.roles
