"""The RBAC model and its one evaluator: deny by default, any deny wins."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taco_core.auth import ApiToken, Principal, PrincipalKind
from taco_core.errors import InvalidInput
from taco_core.rbac import (
    ACTIONS,
    EMPTY_POLICY,
    GLOBAL_RESOURCE,
    Action,
    Authorizer,
    Basis,
    Effect,
    Permission,
    RbacPolicy,
    Role,
    Rule,
    can_anyone_manage,
    check_narrowing,
    check_pattern,
    check_rule,
    decide,
    effective_roles,
    parse_group_roles,
    parse_rule,
)
from tests.unit.test_rbac_pattern import reference_match

ALLOW, DENY = Effect.ALLOW, Effect.DENY


def policy_of(
    *roles: tuple[str, list[Rule]], assignments: dict[str, tuple[str, ...]] | None = None
) -> RbacPolicy:
    """A policy with one permission per role, named after it."""
    return RbacPolicy(
        version=1,
        permissions={rid: Permission(rid, tuple(rules)) for rid, rules in roles},
        roles={rid: Role(rid, (rid,)) for rid, _ in roles},
        assignments=assignments or {},
    )


def user(subject: str = "alice", groups: tuple[str, ...] = ()) -> Principal:
    return Principal(subject=subject, kind=PrincipalKind.USER, groups=groups)


CI = policy_of(
    ("ci-dev", [Rule(ALLOW, ("unit.read", "unit.write", "unit.lock"), ("dev/*",))]),
    ("no-prod", [Rule(DENY, ("*",), ("prod/*",))]),
    ("admin", [Rule(ALLOW, ("*",), ("*",))]),
)


# -- decisions --------------------------------------------------------------------


def test_allow_on_matching_pattern() -> None:
    """An allow rule grants its actions on the units its patterns match."""
    d = decide(CI, ["ci-dev"], "unit.write", "dev/app")
    assert d.allowed
    assert d.basis is Basis.ALLOW_RULE
    assert (d.role, d.permission, d.rule) == ("ci-dev", "ci-dev", 0)
    assert d.reason == "allowed by rule 1 of permission 'ci-dev' in role 'ci-dev'"


def test_no_matching_allow_is_denied() -> None:
    """Outside the patterns, or for an action the rule does not name, the answer is no."""
    assert decide(CI, ["ci-dev"], "unit.write", "prod/app").basis is Basis.NO_MATCHING_ALLOW
    assert not decide(CI, ["ci-dev"], "unit.delete", "dev/app").allowed
    assert not decide(CI, ["ci-dev"], "unit.read", "dev").allowed


def test_any_deny_wins_across_roles() -> None:
    """A deny in one role beats an allow in another, whatever the order."""
    d = decide(CI, ["admin", "no-prod"], "unit.read", "prod/app")
    assert not d.allowed
    assert d.basis is Basis.DENY_RULE
    assert d.reason == "denied by rule 1 of permission 'no-prod' in role 'no-prod'"
    assert decide(CI, ["admin", "no-prod"], "unit.read", "dev/app").allowed


def test_deny_wins_within_one_permission_whatever_the_rule_order() -> None:
    """Unlike the reference, a deny listed after an allow in the same permission still wins."""
    p = policy_of(("r", [Rule(ALLOW, ("*",), ("*",)), Rule(DENY, ("unit.delete",), ("*",))]))
    assert not decide(p, ["r"], "unit.delete", "a").allowed
    assert decide(p, ["r"], "unit.read", "a").allowed


def test_no_roles_is_denied_not_an_error() -> None:
    """A subject with no roles gets a plain denial."""
    d = decide(CI, [], "unit.read", "dev/app")
    assert not d.allowed
    assert d.basis is Basis.NO_ROLES
    assert d.reason == "the caller holds no roles"


def test_unknown_roles_and_permissions_grant_nothing() -> None:
    """Dangling references to missing roles or permissions are ignored."""
    p = RbacPolicy(roles={"r": Role("r", ("gone",))})
    assert decide(p, ["r", "ghost"], "unit.read", "x").basis is Basis.NO_MATCHING_ALLOW


def test_unknown_action_is_invalid_input() -> None:
    """Deciding a misspelt action is a caller error, even without roles."""
    with pytest.raises(InvalidInput, match=r"state\.read"):
        decide(CI, ["admin"], "state.read", "x")
    with pytest.raises(InvalidInput):
        decide(CI, [], "state.read", "x")


def test_read_implies_read_outputs_but_deny_read_does_not_deny_outputs() -> None:
    """An allow of unit.read grants unit.read_outputs; a deny of unit.read leaves outputs alone."""
    p = policy_of(
        ("reader", [Rule(ALLOW, ("unit.read",), ("*",))]),
        ("hide-prod", [Rule(DENY, ("unit.read",), ("prod/*",))]),
        ("outputs", [Rule(ALLOW, ("unit.read_outputs",), ("*",))]),
    )
    assert decide(p, ["reader"], "unit.read_outputs", "a").allowed
    assert decide(p, ["reader", "hide-prod"], "unit.read_outputs", "prod/a").allowed
    assert not decide(p, ["reader", "hide-prod"], "unit.read", "prod/a").allowed
    assert not decide(p, ["outputs"], "unit.read", "a").allowed
    assert not decide(p, ["reader"], "unit.write", "a").allowed


def test_rbac_manage_implies_audit_read_but_not_the_other_way() -> None:
    """An allow of rbac.manage grants audit.read; audit.read alone grants no
    management, and a deny of rbac.manage leaves audit.read alone."""
    p = policy_of(
        ("rbac", [Rule(ALLOW, ("rbac.manage",), ("*",))]),
        ("auditor", [Rule(ALLOW, ("audit.read",), ("*",))]),
        ("no-rbac", [Rule(DENY, ("rbac.manage",), ("*",))]),
    )
    assert decide(p, ["rbac"], "audit.read", "*").allowed
    assert decide(p, ["auditor"], "audit.read", "*").allowed
    assert not decide(p, ["auditor"], "rbac.manage", "*").allowed
    assert decide(p, ["auditor", "no-rbac"], "audit.read", "*").allowed
    assert not decide(p, ["rbac", "no-rbac"], "rbac.manage", "*").allowed


def test_global_actions_need_the_star_pattern() -> None:
    """rbac.manage is decided on '*', which a unit pattern like 'dev/*' never matches."""
    p = policy_of(
        ("dev-admin", [Rule(ALLOW, ("*",), ("dev/*",))]),
        ("rbac", [Rule(ALLOW, ("rbac.manage",), ("*",))]),
    )
    assert not decide(p, ["dev-admin"], "rbac.manage", GLOBAL_RESOURCE).allowed
    assert decide(p, ["rbac"], "rbac.manage", GLOBAL_RESOURCE).allowed


def test_star_action_is_granted_only_by_star_rules() -> None:
    """Asking about '*' (every action) needs a rule naming '*'."""
    assert decide(CI, ["admin"], "*", "dev/a").allowed
    assert not decide(CI, ["ci-dev"], "*", "dev/a").allowed


def test_filter_keeps_order_and_uses_keys() -> None:
    """Filtering returns the allowed items, in order, keyed by unit ID."""
    units = [("dev/b", 1), ("prod/a", 2), ("dev/a", 3), ("dev", 4)]
    got = Authorizer(CI).filter(["ci-dev"], "unit.read", units, key=lambda u: u[0])
    assert got == [("dev/b", 1), ("dev/a", 3)]
    assert Authorizer(CI).filter_ids(["admin"], "unit.read", ["a", "b"]) == ["a", "b"]
    assert Authorizer(CI).filter_ids([], "unit.read", ["a"]) == []


def test_filter_handles_a_hundred_thousand_units() -> None:
    """100k units against prefix, suffix and general patterns, with a deny, filter correctly."""
    rules = [
        Rule(ALLOW, ("unit.read",), (f"team{i}/*", f"*/svc{i}", f"x{i}/*/y")) for i in range(30)
    ]
    rules.append(Rule(DENY, ("unit.read",), ("team3/*/svc1",)))
    p = policy_of(("r", rules))
    ids = [f"team{i % 50}/n{i}/svc{i % 40}" for i in range(100_000)]
    allowed = Authorizer(p).filter_ids(["r"], "unit.read", ids)
    expected = [
        u
        for i, u in enumerate(ids)
        if (i % 50 < 30 or i % 40 < 30) and not (i % 50 == 3 and i % 40 == 1)
    ]
    assert allowed == expected


# -- who holds which roles ----------------------------------------------------------


def test_effective_roles_union_of_assignments_and_groups() -> None:
    """Roles come from the subject's assignments and from its groups' mapping."""
    p = RbacPolicy(assignments={"alice": ("reader",)})
    got = effective_roles(p, user(groups=("devs", "other")), {"devs": ("dev", "reader")})
    assert got == ("dev", "reader")
    assert effective_roles(p, user("bob"), {}) == ()


def test_effective_roles_include_the_configured_subject_roles() -> None:
    """Roles the configuration gives a subject add to its assignments and
    groups, and a token's narrowing cuts them like any other."""
    p = RbacPolicy(assignments={"alice": ("reader",)})
    configured = {"alice": ("admin",), "bob": ("dev",)}
    assert effective_roles(p, user(), None, configured) == ("admin", "reader")
    token = Principal("alice", PrincipalKind.API_TOKEN, narrowed_to=("reader",))
    assert effective_roles(p, token, None, configured) == ("reader",)
    assert effective_roles(p, user("carol"), None, configured) == ()


def test_narrowed_token_never_exceeds_its_subject() -> None:
    """A token narrowed to roles keeps only those its subject holds at decision time."""
    p = RbacPolicy(assignments={"ci": ("ci-dev", "reader")})
    token = Principal("ci", PrincipalKind.API_TOKEN, narrowed_to=("ci-dev", "admin"))
    assert effective_roles(p, token) == ("ci-dev",)
    unnarrowed = Principal("ci", PrincipalKind.API_TOKEN)
    assert effective_roles(p, unnarrowed) == ("ci-dev", "reader")
    assert effective_roles(p, Principal("ci", PrincipalKind.API_TOKEN, narrowed_to=())) == ()


def test_api_token_principal_carries_its_narrowing() -> None:
    """An API token's roles become its principal's narrowing; none means no narrowing."""
    from datetime import UTC, datetime

    made = datetime(2026, 1, 1, tzinfo=UTC)
    narrowed = ApiToken("t1", "ci", "h", "ci-dev", made, roles=["ci-dev"])
    assert narrowed.principal().narrowed_to == ("ci-dev",)
    assert ApiToken("t2", "ci", "h", "ci-dev", made).principal().narrowed_to is None


def test_check_narrowing_refuses_roles_the_subject_lacks() -> None:
    """A token may be narrowed only to roles its subject holds, and duplicates collapse."""
    assert check_narrowing(["a", "a"], ["a", "b"], "ci") == ("a",)
    with pytest.raises(InvalidInput, match="'admin'"):
        check_narrowing(["a", "admin"], ["a"], "ci")


def test_parse_group_roles() -> None:
    """GROUP=ROLE items separated by commas; repeats accumulate; blanks are skipped."""
    assert parse_group_roles("platform=admin, devs=reader,devs=dev,,") == {
        "platform": ("admin",),
        "devs": ("reader", "dev"),
    }
    assert parse_group_roles("  ") == {}
    assert parse_group_roles("cn=ops=admin") == {"cn=ops": ("admin",)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("platform", "must be GROUP=ROLE"),
        ("=admin", "must be GROUP=ROLE"),
        ("devs=", "must be GROUP=ROLE"),
        ("devs=read er", "role ID 'read er'"),
    ],
)
def test_parse_group_roles_errors_name_the_setting_and_item(text: str, message: str) -> None:
    """Bad syntax is InvalidInput naming the setting and the offending item."""
    with pytest.raises(InvalidInput, match=message) as err:
        parse_group_roles(text)
    assert "OPENTACO_RBAC_GROUP_ROLES" in str(err.value)


# -- validation ---------------------------------------------------------------------


def test_parse_rule() -> None:
    """The CLI rule syntax parses into a checked rule."""
    assert parse_rule("allow:unit.read,unit.write:dev/*,stage/*") == Rule(
        ALLOW, ("unit.read", "unit.write"), ("dev/*", "stage/*")
    )
    assert parse_rule(" DENY :*:*") == Rule(DENY, ("*",), ("*",))
    assert str(parse_rule("deny:unit.delete:prod/*")) == "deny:unit.delete:prod/*"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("allow:unit.read", "must look like"),
        ("permit:unit.read:*", "'allow' or 'deny'"),
        ("allow:state.read:*", "unknown action 'state.read'"),
        ("allow::*", "at least one action"),
        ("allow:unit.read:", "at least one resource"),
        ("allow:unit.read:/dev/*", "segments"),
        ("allow:unit.read:dev /*", "segments"),
        ("allow:unit.read:dev//x", "segments"),
    ],
)
def test_parse_rule_errors(text: str, message: str) -> None:
    """Malformed rules are InvalidInput saying what is wrong."""
    with pytest.raises(InvalidInput, match=message):
        parse_rule(text)


def test_check_pattern_accepts_unit_like_patterns() -> None:
    """Unit-ID characters and stars, joined by single slashes, are valid patterns."""
    for ok in ("*", "dev/*", "*/db", "a.b_c-d/*/e", "__opentaco_system"):
        assert check_pattern(ok) == ok
    with pytest.raises(InvalidInput):
        check_rule(Rule(ALLOW, ("unit.read",), ("x" * 600,)))


def test_every_action_is_known() -> None:
    """The action set is exactly the issue's list plus '*'."""
    assert (
        frozenset(
            {
                "unit.read",
                "unit.read_outputs",
                "unit.write",
                "unit.lock",
                "unit.delete",
                "rbac.manage",
                "token.manage",
                "audit.read",
                "*",
            }
        )
        == ACTIONS
    )


def test_can_anyone_manage() -> None:
    """Someone manages RBAC when an assigned subject or a mapped group may rbac.manage."""
    assert can_anyone_manage(RbacPolicy(CI.version, CI.permissions, CI.roles, {"a": ("admin",)}))
    assert not can_anyone_manage(CI)
    assert can_anyone_manage(CI, {"platform": ("admin",)})
    assert can_anyone_manage(CI, None, {"alice": ("admin",)})
    assert not can_anyone_manage(CI, None, {"alice": ("ci-dev",)})
    assert not can_anyone_manage(EMPTY_POLICY, {"platform": ("admin",)})


# -- properties -----------------------------------------------------------------------

ROLE_IDS = ["r0", "r1", "r2"]
action_names = st.sampled_from(sorted(ACTIONS))
pattern_texts = st.text(alphabet="ab/*", min_size=1, max_size=6)
resource_ids = st.text(alphabet="ab/", min_size=1, max_size=6)
rules = st.builds(
    Rule,
    effect=st.sampled_from(Effect),
    actions=st.lists(action_names, min_size=1, max_size=3),
    resources=st.lists(pattern_texts, min_size=1, max_size=3),
)


@st.composite
def policies(draw: st.DrawFn) -> RbacPolicy:
    perm_ids = draw(st.lists(st.sampled_from(["p0", "p1", "p2", "p3"]), unique=True))
    permissions = {pid: Permission(pid, draw(st.lists(rules, max_size=3))) for pid in perm_ids}
    known = [*perm_ids, "missing"]
    roles = {
        rid: Role(rid, draw(st.lists(st.sampled_from(known), unique=True, max_size=3)))
        for rid in draw(st.lists(st.sampled_from(ROLE_IDS), unique=True))
    }
    return RbacPolicy(version=1, permissions=permissions, roles=roles)


role_sets = st.lists(st.sampled_from([*ROLE_IDS, "ghost"]), unique=True, max_size=4)


def model_allows(policy: RbacPolicy, roles: list[str], action: str, resource: str) -> bool:
    """The rule as written in the issue, evaluated naively."""

    found: list[Rule] = []
    for rid in roles:
        role = policy.roles.get(rid)
        for pid in role.permissions if role else ():
            perm = policy.permissions.get(pid)
            found.extend(perm.rules if perm else ())

    def hits(rule: Rule, effect: Effect) -> bool:
        names = {action, "*"}
        if effect is ALLOW and action == "unit.read_outputs":
            names.add("unit.read")
        if effect is ALLOW and action == "audit.read":
            names.add("rbac.manage")
        return (
            rule.effect is effect
            and bool(names & set(rule.actions))
            and any(reference_match(p, resource) for p in rule.resources)
        )

    if not roles:
        return False
    if any(hits(r, DENY) for r in found):
        return False
    return any(hits(r, ALLOW) for r in found)


@given(policy=policies(), roles=role_sets, action=action_names, resource=resource_ids)
def test_evaluator_agrees_with_the_written_rule(
    policy: RbacPolicy, roles: list[str], action: str, resource: str
) -> None:
    """The compiled evaluator gives the naive model's answer, and its explanation
    names a rule of the decisive effect that really matches."""
    d = Authorizer(policy).decide(roles, action, resource)
    assert d.allowed is model_allows(policy, roles, action, resource)
    if d.basis in (Basis.ALLOW_RULE, Basis.DENY_RULE):
        assert d.permission is not None
        assert d.rule is not None
        rule = policy.permissions[d.permission].rules[d.rule]
        assert rule.effect is (ALLOW if d.allowed else DENY)
        assert any(reference_match(p, resource) for p in rule.resources)


@given(policy=policies(), roles=role_sets, action=action_names, ids=st.lists(resource_ids))
def test_single_decisions_agree_with_bulk_filtering(
    policy: RbacPolicy, roles: list[str], action: str, ids: list[str]
) -> None:
    """Filtering a list keeps exactly the IDs that single decisions allow."""
    authorizer = Authorizer(policy)
    expected = [i for i in ids if authorizer.decide(roles, action, i).allowed]
    assert authorizer.filter_ids(roles, action, ids) == expected
    assert [authorizer.allows(roles, action, i) for i in ids] == [i in expected for i in ids]


@given(
    policy=policies(),
    roles=role_sets,
    action=action_names,
    resource=resource_ids,
)
def test_deny_by_default(policy: RbacPolicy, roles: list[str], action: str, resource: str) -> None:
    """Without allow rules nothing is allowed; without roles, nothing at all."""
    denies_only = RbacPolicy(
        version=policy.version,
        permissions={
            pid: Permission(pid, tuple(r for r in p.rules if r.effect is DENY))
            for pid, p in policy.permissions.items()
        },
        roles=policy.roles,
    )
    assert not decide(denies_only, roles, action, resource).allowed
    assert not decide(policy, [], action, resource).allowed
    assert not decide(EMPTY_POLICY, roles, action, resource).allowed


def with_rule(policy: RbacPolicy, role_id: str, rule: Rule) -> RbacPolicy:
    """``policy`` with ``rule`` added to a new permission given to ``role_id``."""
    role = policy.roles.get(role_id, Role(role_id))
    return RbacPolicy(
        version=policy.version + 1,
        permissions={**policy.permissions, "added": Permission("added", (rule,))},
        roles={**policy.roles, role_id: Role(role_id, (*role.permissions, "added"))},
    )


@given(
    policy=policies(),
    roles=role_sets,
    target=st.sampled_from(ROLE_IDS),
    rule=rules,
    action=action_names,
    resource=resource_ids,
)
def test_adding_an_allow_never_removes_access(
    policy: RbacPolicy, roles: list[str], target: str, rule: Rule, action: str, resource: str
) -> None:
    """Whatever allow rule is added to whichever role, what was allowed stays allowed."""
    wider = with_rule(policy, target, Rule(ALLOW, rule.actions, rule.resources))
    if decide(policy, roles, action, resource).allowed:
        assert decide(wider, roles, action, resource).allowed


@given(
    policy=policies(),
    roles=role_sets,
    target=st.sampled_from(ROLE_IDS),
    rule=rules,
    action=action_names,
    resource=resource_ids,
)
def test_adding_a_deny_never_adds_access(
    policy: RbacPolicy, roles: list[str], target: str, rule: Rule, action: str, resource: str
) -> None:
    """Whatever deny rule is added to whichever role, nothing denied becomes allowed."""
    narrower = with_rule(policy, target, Rule(DENY, rule.actions, rule.resources))
    if decide(narrower, roles, action, resource).allowed:
        assert decide(policy, roles, action, resource).allowed


def test_action_enum_values_compare_as_strings() -> None:
    """Rules may hold Action members or plain strings; both match the same way."""
    p = policy_of(("r", [Rule(ALLOW, (Action.UNIT_READ,), ("*",))]))
    assert decide(p, ["r"], "unit.read", "a").allowed
    assert decide(p, ["r"], Action.UNIT_READ, "a").allowed


def test_rule_effect_is_checked_on_construction() -> None:
    """A rule with an effect other than allow or deny cannot exist."""
    assert Rule("ALLOW", ("unit.read",), ("*",)).effect is ALLOW
    with pytest.raises(InvalidInput, match="'allow' or 'deny'"):
        Rule("permit", ("unit.read",), ("*",))
