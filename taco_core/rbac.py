"""Authorization: who may do which action on which units, decided in one place.

The model is the reference's: a permission is a list of rules (allow or deny
some actions on some resource patterns), a role is a set of permissions, and
subjects are assigned roles. The whole of it is one versioned document,
``RbacPolicy``, stored and replaced as a unit with compare-and-swap, so two
admins editing at once never lose each other's change.

One evaluator, ``Authorizer``, serves enforcement, list filtering and
``rbac test``; the reference had two that disagreed. Its rule is:

- a subject with no roles is denied;
- any matching deny wins, whatever role or permission it comes from;
- otherwise any matching allow grants;
- otherwise the answer is no.

A rule matches when its resources match the resource (``taco_core.rbac_pattern``)
and its actions name the action or ``*``. Two implications: an allow of
``unit.read`` also allows ``unit.read_outputs`` (who may read a whole state
may read its outputs), and an allow of ``rbac.manage`` also allows
``audit.read`` (who may grant any permission may grant themselves that one,
and should see what their grants did). Implications hold for allows only: a
deny of ``unit.read`` does not deny ``unit.read_outputs``: it takes away the
whole state, and outputs stay governed by their own action, so "everything
but the full state of prod" is a plain deny of ``unit.read`` on ``prod/*``.
Both directions stay monotone: adding an allow never removes access and
adding a deny never adds any.

Actions that concern no unit (``rbac.manage``, ``token.manage``,
``audit.read``) are decided on the resource ``GLOBAL_RESOURCE`` (``*``),
which only the pattern ``*`` matches (no unit ID contains a ``*``). The
audit trail is one such: it names every caller and where they called from,
so reading it is all or nothing, never per unit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from attrs import field, frozen

from taco_core.auth import Principal
from taco_core.errors import InvalidInput
from taco_core.rbac_pattern import Pattern, PatternSet, compile_pattern, matches

T = TypeVar("T")


class Action(StrEnum):
    """What a caller may be allowed to do. ``ALL`` (``*``) in a rule means every action."""

    UNIT_READ = "unit.read"
    UNIT_READ_OUTPUTS = "unit.read_outputs"
    UNIT_WRITE = "unit.write"  # also create and restore
    UNIT_LOCK = "unit.lock"
    UNIT_DELETE = "unit.delete"
    RBAC_MANAGE = "rbac.manage"
    TOKEN_MANAGE = "token.manage"
    AUDIT_READ = "audit.read"
    ALL = "*"


ACTIONS = frozenset(a.value for a in Action)
GLOBAL_RESOURCE = "*"

# Which actions in an allow rule grant the key action. Deny rules use only
# the action itself and ``*`` (see the module docstring).
_IMPLIED_BY: Mapping[str, frozenset[str]] = {
    Action.UNIT_READ_OUTPUTS: frozenset({Action.UNIT_READ}),
    Action.AUDIT_READ: frozenset({Action.RBAC_MANAGE}),
}


class Effect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


def parse_effect(text: str) -> Effect:
    """``allow`` or ``deny`` (any case), else ``InvalidInput``."""
    try:
        return Effect(text.strip().lower())
    except ValueError:
        raise InvalidInput(f"rule effect must be 'allow' or 'deny', got {text!r}") from None


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _rules(value: Iterable[Rule]) -> tuple[Rule, ...]:
    return tuple(value)


@frozen
class Rule:
    """Allow or deny ``actions`` on units matching any of ``resources``."""

    effect: Effect = field(converter=parse_effect)
    actions: tuple[str, ...] = field(converter=_strings)
    resources: tuple[str, ...] = field(converter=_strings)

    def __str__(self) -> str:
        """The CLI's ``EFFECT:ACTION[,ACTION...]:PATTERN[,PATTERN...]`` form."""
        return f"{self.effect.value}:{','.join(self.actions)}:{','.join(self.resources)}"


@frozen
class Permission:
    """A named list of rules, the unit roles are built from."""

    id: str
    rules: tuple[Rule, ...] = field(converter=_rules)
    name: str = ""
    description: str = ""
    created_at: datetime | None = None
    created_by: str = ""


@frozen
class Role:
    """A named set of permissions (by ID), the unit subjects are given."""

    id: str
    permissions: tuple[str, ...] = field(default=(), converter=_strings)
    name: str = ""
    description: str = ""
    created_at: datetime | None = None
    created_by: str = ""


def _permissions(value: Mapping[str, Permission]) -> dict[str, Permission]:
    return dict(value)


def _roles(value: Mapping[str, Role]) -> dict[str, Role]:
    return dict(value)


def _assignments(value: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    return {subject: tuple(roles) for subject, roles in value.items()}


@frozen
class RbacPolicy:
    """Every permission, role and assignment, as one versioned document.

    ``version`` rises by one with every saved change; it is the token of the
    store's compare-and-swap (``taco_core.ports.RbacStore``). Version 0 is the
    empty policy of an uninitialised install, which denies everyone.
    ``permissions`` and ``roles`` are keyed by their IDs; ``assignments`` maps
    a subject to the IDs of its roles. References to missing roles or
    permissions grant nothing.
    """

    version: int = 0
    permissions: Mapping[str, Permission] = field(factory=dict, converter=_permissions)
    roles: Mapping[str, Role] = field(factory=dict, converter=_roles)
    assignments: Mapping[str, tuple[str, ...]] = field(factory=dict, converter=_assignments)


EMPTY_POLICY = RbacPolicy()


# -- validation -----------------------------------------------------------------

_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PATTERN_SEGMENT = re.compile(r"[A-Za-z0-9._*-]+")
_MAX_PATTERN = 512
_MAX_SUBJECT = 255


def check_id(kind: str, value: str) -> str:
    """``value`` if it is a valid role or permission ID, else ``InvalidInput``."""
    if not _ID.fullmatch(value):
        raise InvalidInput(f"{kind} ID {value!r} must be 1 to 64 letters, digits, '.', '_' or '-'")
    return value


def check_subject(subject: str) -> str:
    """``subject`` if it can hold roles (non-empty printable text), else ``InvalidInput``."""
    if not subject.strip() or not subject.isprintable() or len(subject) > _MAX_SUBJECT:
        raise InvalidInput(
            f"subject {subject!r} must be non-empty printable text of at most "
            f"{_MAX_SUBJECT} characters"
        )
    return subject


def check_action(action: str) -> str:
    """``action`` if it is one of ``ACTIONS``, else ``InvalidInput`` listing them."""
    if action not in ACTIONS:
        known = ", ".join(sorted(ACTIONS))
        raise InvalidInput(f"unknown action {action!r}; actions are {known}")
    return action


def check_pattern(pattern: str) -> str:
    """``pattern`` if it can match unit IDs, else ``InvalidInput`` saying why.

    Segments are unit-ID characters or ``*``, joined by single ``/``, so a
    typo such as ``/dev/*`` or ``dev /*`` is refused instead of silently
    matching nothing.
    """
    if not pattern or len(pattern) > _MAX_PATTERN:
        raise InvalidInput(f"resource pattern must be 1 to {_MAX_PATTERN} characters")
    for segment in pattern.split("/"):
        if not _PATTERN_SEGMENT.fullmatch(segment):
            raise InvalidInput(
                f"resource pattern {pattern!r}: segments are joined by single '/' and hold "
                "only letters, digits, '.', '_', '-' and '*' (e.g. 'dev/*')"
            )
    return pattern


def check_rule(rule: Rule) -> Rule:
    """``rule`` if every action and pattern is valid, else ``InvalidInput``."""
    if not rule.actions:
        raise InvalidInput("a rule needs at least one action")
    if not rule.resources:
        raise InvalidInput("a rule needs at least one resource pattern")
    for action in rule.actions:
        check_action(action)
    for pattern in rule.resources:
        check_pattern(pattern)
    return rule


def parse_rule(text: str) -> Rule:
    """A rule from the CLI form ``EFFECT:ACTION[,ACTION...]:PATTERN[,PATTERN...]``,
    e.g. ``allow:unit.read,unit.write:dev/*``; ``InvalidInput`` saying what is wrong."""
    parts = text.split(":")
    if len(parts) != 3:
        raise InvalidInput(
            f"rule {text!r} must look like EFFECT:ACTION[,ACTION...]:PATTERN[,PATTERN...], "
            "e.g. allow:unit.read,unit.write:dev/*"
        )
    effect, actions, resources = parts
    rule = Rule(
        effect=parse_effect(effect),
        actions=tuple(a.strip() for a in actions.split(",") if a.strip()),
        resources=tuple(r.strip() for r in resources.split(",") if r.strip()),
    )
    return check_rule(rule)


# -- who holds which roles --------------------------------------------------------

GroupRoles = Mapping[str, tuple[str, ...]]


def parse_group_roles(
    text: str,
    *,
    setting: str = "OPENTACO_RBAC_GROUP_ROLES",
    example: str = "GROUP=ROLE, e.g. platform=admin,devs=reader",
) -> GroupRoles:
    """The group-to-roles mapping from ``platform=admin,devs=reader`` (also
    the subject-to-roles mapping, the same syntax with subjects).

    Items are separated by commas and split at their last ``=``, so a group
    name may contain ``=`` but not ``,``. A group named twice gets both roles.
    Blank text is an empty mapping. ``InvalidInput`` names ``setting``, the
    bad item and the expected form (``example``).
    """
    mapping: dict[str, list[str]] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        group, sep, role = item.rpartition("=")
        group, role = group.strip(), role.strip()
        if not sep or not group or not role:
            raise InvalidInput(f"{setting}: item {item!r} must be {example}")
        if not _ID.fullmatch(role):
            raise InvalidInput(
                f"{setting}: item {item!r}: role ID {role!r} must be 1 to 64 letters, "
                "digits, '.', '_' or '-'"
            )
        roles = mapping.setdefault(group, [])
        if role not in roles:
            roles.append(role)
    return {group: tuple(roles) for group, roles in mapping.items()}


def effective_roles(
    policy: RbacPolicy,
    principal: Principal,
    group_roles: GroupRoles | None = None,
    subject_roles: GroupRoles | None = None,
) -> tuple[str, ...]:
    """The role IDs ``principal`` acts with, sorted.

    Those assigned to its subject, plus those its groups map to and those
    the configuration gives its subject (``subject_roles``), then cut down to
    the token's narrowing when it has one: a narrowed token never acts with a
    role its subject does not hold now.
    """
    roles = set(policy.assignments.get(principal.subject, ()))
    roles.update((subject_roles or {}).get(principal.subject, ()))
    for group in principal.groups:
        roles.update((group_roles or {}).get(group, ()))
    if principal.narrowed_to is not None:
        roles.intersection_update(principal.narrowed_to)
    return tuple(sorted(roles))


def check_narrowing(requested: Iterable[str], held: Iterable[str], subject: str) -> tuple[str, ...]:
    """The roles a new token is narrowed to, if ``subject`` holds them all.

    Narrowing is enforced when deciding anyway (``effective_roles``); this
    refuses, at creation, a token that could never use the roles it names.
    """
    wanted = tuple(dict.fromkeys(requested))
    holds = set(held)
    missing = [r for r in wanted if r not in holds]
    if missing:
        names = ", ".join(repr(r) for r in missing)
        raise InvalidInput(
            f"subject {subject!r} does not hold role {names}; "
            "a token can be narrowed only to roles its subject holds"
        )
    return wanted


# -- decisions --------------------------------------------------------------------


def rule_applies(rule: Rule, action: str, resource: str) -> bool:
    """Whether ``rule`` speaks about ``action`` on ``resource``, read as the
    ``Authorizer`` reads it (an allow of ``unit.read`` also speaks about
    ``unit.read_outputs``); what ``rbac test`` lists as applicable."""
    wanted = {action, Action.ALL.value}
    if rule.effect is Effect.ALLOW:
        wanted |= _IMPLIED_BY.get(action, frozenset())
    return not wanted.isdisjoint(rule.actions) and any(matches(p, resource) for p in rule.resources)


class Basis(StrEnum):
    """What a decision rests on."""

    ALLOW_RULE = "allow_rule"
    DENY_RULE = "deny_rule"
    NO_MATCHING_ALLOW = "no_matching_allow"
    NO_ROLES = "no_roles"
    DISABLED = "disabled"


@frozen
class Decision:
    """The answer to "may these roles do ``action`` on ``resource``?", with why.

    For ``ALLOW_RULE`` and ``DENY_RULE``, ``role``, ``permission`` and
    ``rule`` (0-based index in the permission's rules) name the rule that
    decided; among several matching ones, the first by role ID, then the
    role's permission order, then rule order.
    """

    allowed: bool
    action: str
    resource: str
    basis: Basis
    roles: tuple[str, ...] = ()
    role: str | None = None
    permission: str | None = None
    rule: int | None = None

    @property
    def reason(self) -> str:
        if self.basis is Basis.DISABLED:
            return "authorization is disabled on this server"
        if self.basis is Basis.NO_ROLES:
            return "the caller holds no roles"
        if self.basis is Basis.NO_MATCHING_ALLOW:
            return "no rule of the caller's roles allows it"
        verb = "allowed" if self.allowed else "denied"
        n = (self.rule or 0) + 1
        return f"{verb} by rule {n} of permission {self.permission!r} in role {self.role!r}"


def disabled_decision(action: str, resource: str) -> Decision:
    """What every check answers when authorization is turned off."""
    return Decision(allowed=True, action=action, resource=resource, basis=Basis.DISABLED)


@frozen
class _Entry:
    role: str
    permission: str
    rule: int
    patterns: tuple[Pattern, ...]

    def matches(self, resource: str) -> bool:
        return any(p.matches(resource) for p in self.patterns)


@frozen
class _Compiled:
    """The rules of one role set that concern one action, ready to match."""

    denies: tuple[_Entry, ...]
    allows: tuple[_Entry, ...]
    deny_set: PatternSet
    allow_set: PatternSet

    def allows_resource(self, resource: str) -> bool:
        return not self.deny_set.any_match(resource) and self.allow_set.any_match(resource)


_CACHE_LIMIT = 1024


class Authorizer:
    """One policy, compiled for fast decisions; the only evaluator.

    Rules are gathered and their patterns compiled once per (role set,
    action) and kept, so filtering a long unit list costs a few set and
    string operations per unit. Build one per policy version.
    """

    def __init__(self, policy: RbacPolicy) -> None:
        self.policy = policy
        self._compiled: dict[tuple[frozenset[str], str], _Compiled] = {}
        self._patterns: dict[str, Pattern] = {}

    def decide(self, roles: Iterable[str], action: str, resource: str) -> Decision:
        """Whether ``roles`` may do ``action`` on ``resource`` (a unit ID or
        ``GLOBAL_RESOURCE``), and which rule decided. ``InvalidInput`` for an
        unknown action."""
        held = tuple(sorted(set(roles)))
        if not held:
            check_action(action)
            return Decision(False, action, resource, Basis.NO_ROLES)
        compiled = self._compile(frozenset(held), action)
        if compiled.deny_set.any_match(resource):
            return self._by(compiled.denies, False, held, action, resource)
        if compiled.allow_set.any_match(resource):
            return self._by(compiled.allows, True, held, action, resource)
        return Decision(False, action, resource, Basis.NO_MATCHING_ALLOW, held)

    def allows(self, roles: Iterable[str], action: str, resource: str) -> bool:
        """``decide(...).allowed`` without building the explanation."""
        held = frozenset(roles)
        if not held:
            check_action(action)
            return False
        return self._compile(held, action).allows_resource(resource)

    def filter(
        self, roles: Iterable[str], action: str, items: Iterable[T], key: Callable[[T], str]
    ) -> list[T]:
        """The items whose resource (``key(item)``) ``roles`` may ``action``,
        in their order; the same answer as ``decide`` for each."""
        held = frozenset(roles)
        if not held:
            check_action(action)
            return []
        compiled = self._compile(held, action)
        if compiled.deny_set.empty and compiled.allow_set.matches_everything:
            return list(items)
        allows = compiled.allows_resource
        return [item for item in items if allows(key(item))]

    def filter_ids(self, roles: Iterable[str], action: str, ids: Iterable[str]) -> list[str]:
        """``filter`` over plain resource strings."""
        return self.filter(roles, action, ids, str)

    def _by(
        self,
        entries: tuple[_Entry, ...],
        allowed: bool,
        held: tuple[str, ...],
        action: str,
        resource: str,
    ) -> Decision:
        entry = next(e for e in entries if e.matches(resource))
        return Decision(
            allowed=allowed,
            action=action,
            resource=resource,
            basis=Basis.ALLOW_RULE if allowed else Basis.DENY_RULE,
            roles=held,
            role=entry.role,
            permission=entry.permission,
            rule=entry.rule,
        )

    def _compile(self, held: frozenset[str], action: str) -> _Compiled:
        key = (held, action)
        found = self._compiled.get(key)
        if found is not None:
            return found
        check_action(action)
        deny_by = {action, Action.ALL.value}
        allow_by = deny_by | _IMPLIED_BY.get(action, frozenset())
        denies: list[_Entry] = []
        allows: list[_Entry] = []
        for role_id in sorted(held):
            role = self.policy.roles.get(role_id)
            if role is None:
                continue
            for permission_id in role.permissions:
                permission = self.policy.permissions.get(permission_id)
                if permission is None:
                    continue
                for index, rule in enumerate(permission.rules):
                    wanted = deny_by if rule.effect is Effect.DENY else allow_by
                    if wanted.isdisjoint(rule.actions):
                        continue
                    entry = _Entry(role_id, permission_id, index, self._compile_all(rule))
                    (denies if rule.effect is Effect.DENY else allows).append(entry)
        compiled = _Compiled(
            denies=tuple(denies),
            allows=tuple(allows),
            deny_set=PatternSet(p for e in denies for p in e.patterns),
            allow_set=PatternSet(p for e in allows for p in e.patterns),
        )
        if len(self._compiled) >= _CACHE_LIMIT:
            self._compiled.clear()
        self._compiled[key] = compiled
        return compiled

    def _compile_all(self, rule: Rule) -> tuple[Pattern, ...]:
        compiled = []
        for text in rule.resources:
            pattern = self._patterns.get(text)
            if pattern is None:
                pattern = self._patterns[text] = compile_pattern(text)
            compiled.append(pattern)
        return tuple(compiled)


def decide(policy: RbacPolicy, roles: Iterable[str], action: str, resource: str) -> Decision:
    """A one-off decision (``Authorizer(policy).decide``); services keep an
    ``Authorizer`` per policy version instead."""
    return Authorizer(policy).decide(roles, action, resource)


def can_anyone_manage(
    policy: RbacPolicy,
    group_roles: GroupRoles | None = None,
    subject_roles: GroupRoles | None = None,
) -> bool:
    """Whether some assigned subject, or some mapped group or subject, may
    ``rbac.manage``.

    An edit that turns this from true to false would lock every admin out
    (only turning authorization off could undo it), so the service refuses it.
    """
    authorizer = Authorizer(policy)
    holders = [
        *policy.assignments.values(),
        *(group_roles or {}).values(),
        *(subject_roles or {}).values(),
    ]
    return any(authorizer.allows(roles, Action.RBAC_MANAGE, GLOBAL_RESOURCE) for roles in holders)
