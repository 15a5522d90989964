"""RBAC on the wire: the stored policy document, and the ``/v1/rbac`` shapes.

The policy document is what every ``RbacStore`` keeps (one JSON object per
installation): ``{"format": 1, "version", "permissions": {id: permission},
"roles": {id: role}, "assignments": {subject: [role IDs]}}``, written and
read by a cattrs converter, so SQLite and S3 hold the same bytes and a field
added to the model travels without a hand-written mapping. That converter is
a copy of the API's with its own time format (ISO 8601 with the offset), so
what is stored keeps its form whatever the API comes to show.

The API shapes follow the Go reference (``GET /v1/rbac/roles`` answers a
bare JSON array of roles, ``POST /v1/rbac/test`` answers ``{"status",
"reason", "user_roles", "applicable_permissions"}``), plus what only we know:
the rule that decided a test, a token's narrowing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import cattrs
from attrs import field, frozen
from cattrs.gen import make_dict_unstructure_fn

from taco_adapters.wire.converter import converter, parse_time, rfc3339
from taco_core.auth import Principal, PrincipalKind
from taco_core.errors import InvalidInput, StorageUnavailable
from taco_core.rbac import Basis, Decision, Effect, Permission, RbacPolicy, Role, Rule, parse_effect
from taco_core.rbac_admin import HeldRoles, RbacTestResult

POLICY_FORMAT = 1


def _effect(value: object, _: type) -> Effect:
    if not isinstance(value, str):
        raise TypeError(f"expected 'allow' or 'deny', got {type(value).__name__} {value!r}")
    try:
        return parse_effect(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


converter.register_structure_hook(Effect, _effect)
converter.register_unstructure_hook(Effect, lambda effect: effect.value)

_document = converter.copy()
_document.register_unstructure_hook(datetime, lambda t: t.isoformat(timespec="microseconds"))


# -- the stored document ------------------------------------------------------------


def policy_document(policy: RbacPolicy) -> dict[str, Any]:
    """The policy as its stored JSON object (see the module docstring)."""
    doc: dict[str, Any] = _document.unstructure(policy)
    return {"format": POLICY_FORMAT, **doc}


def policy_from_document(doc: Mapping[str, Any], where: str) -> RbacPolicy:
    """The policy a stored document holds; ``StorageUnavailable`` naming
    ``where`` when it is unreadable, or written by a newer OpenTaco (saving
    over it would drop what this version does not know)."""
    fmt = doc.get("format", POLICY_FORMAT)
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt > POLICY_FORMAT:
        raise StorageUnavailable(
            f"the RBAC policy in {where} has format {fmt!r}, newer than this OpenTaco "
            f"understands ({POLICY_FORMAT}); upgrade OpenTaco"
        )
    try:
        policy: RbacPolicy = _document.structure(doc, RbacPolicy)
    except cattrs.BaseValidationError as exc:
        detail = "; ".join(cattrs.transform_error(exc))
    except (TypeError, ValueError, KeyError) as exc:
        detail = str(exc)
    else:
        return policy
    raise StorageUnavailable(f"the RBAC policy in {where} is unreadable: {detail}")


def policy_bytes(policy: RbacPolicy, **extra: str) -> bytes:
    """The stored document as bytes (keys sorted); ``extra`` fields are added
    beside it (a store's write nonce) and ignored when read back."""
    return json.dumps({**policy_document(policy), **extra}, sort_keys=True).encode()


def policy_from_bytes(data: bytes, where: str) -> RbacPolicy:
    """``policy_from_document`` of stored bytes."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise StorageUnavailable(f"the RBAC policy in {where} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise StorageUnavailable(f"the RBAC policy in {where} is not a JSON object")
    return policy_from_document(doc, where)


# -- requests -----------------------------------------------------------------------


@frozen
class RuleRequest:
    """One rule of a permission: ``{"effect", "actions", "resources"}``."""

    effect: str
    actions: list[str]
    resources: list[str]

    def rule(self) -> Rule:
        return Rule(parse_effect(self.effect), self.actions, self.resources)


@frozen
class PermissionRequest:
    id: str
    rules: list[RuleRequest]
    name: str = ""
    description: str = ""


@frozen
class RoleRequest:
    id: str
    name: str = ""
    description: str = ""
    permissions: list[str] = field(factory=list)


@frozen
class AssignPermissionRequest:
    permission_id: str


@frozen
class AssignRoleRequest:
    """Assignments are by subject (the ``sub`` of the caller's token)."""

    subject: str
    role_id: str


@frozen
class RbacTestRequest:
    """``subject`` defaults to the caller; ``groups`` are tested with it."""

    action: str
    resource: str
    subject: str | None = None
    groups: list[str] = field(factory=list)


_REQUESTS = (
    RuleRequest,
    PermissionRequest,
    RoleRequest,
    AssignPermissionRequest,
    AssignRoleRequest,
    RbacTestRequest,
)
for _cls in _REQUESTS:
    converter.register_unstructure_hook(
        _cls, make_dict_unstructure_fn(_cls, converter, _cattrs_omit_if_default=True)
    )


def rule_request(rule: Rule) -> RuleRequest:
    return RuleRequest(rule.effect.value, list(rule.actions), list(rule.resources))


def permission_rules(request: PermissionRequest) -> list[Rule]:
    """The request's rules; ``InvalidInput`` for an unknown effect."""
    return [r.rule() for r in request.rules]


# -- answers ------------------------------------------------------------------------
#
# The classes below are the answers' shapes, for the API description
# (``taco_adapters.wire.schema``); the functions after them write and read them.


@frozen
class RuleDoc:
    """One rule of a permission (``rule_json``)."""

    effect: Effect
    actions: list[str]
    resources: list[str]


@frozen
class PermissionDoc:
    """A permission (``permission_json``)."""

    id: str
    name: str
    description: str
    rules: list[RuleDoc]
    created_at: datetime | None
    created_by: str


@frozen
class RoleDoc:
    """A role (``role_json``), with the version of the policy it was read from."""

    id: str
    name: str
    description: str
    permissions: list[str]
    created_at: datetime | None
    created_by: str
    version: int


@frozen
class RoleChangeDoc:
    """The answer to creating a role or giving it a permission."""

    message: str
    role: RoleDoc


@frozen
class AssignmentDoc:
    """A subject and the roles assigned to it (``assignments_json``)."""

    subject: str
    roles: list[str]
    version: int


@frozen
class AssignmentChangeDoc:
    """The answer to assigning or revoking a role: the subject's roles now."""

    message: str
    subject: str
    roles: list[str]
    version: int


@frozen
class HeldRolesDoc:
    """Who the caller is to RBAC (``held_roles_json``)."""

    rbac_enabled: bool
    subject: str
    email: str
    groups: list[str]
    kind: PrincipalKind
    roles: list[str]
    token_id: str = ""
    narrowed_to: list[str] = field(factory=list)
    message: str = ""


@frozen
class DecidingRuleDoc:
    """The rule that decided a test: where it is (``number`` counts from 1)
    and, when it still exists, what it says."""

    role: str | None
    permission: str
    number: int
    effect: Effect | None = None
    actions: list[str] = field(factory=list)
    resources: list[str] = field(factory=list)


@frozen
class RbacTestDoc:
    """The answer of ``POST /v1/rbac/test`` (``rbac_test_json``)."""

    status: Literal["allowed", "denied"]
    reason: str
    subject: str
    action: str
    resource: str
    basis: Basis
    rule: DecidingRuleDoc | None
    user_roles: list[str]
    applicable_permissions: list[str]


def _time(value: Any) -> str | None:
    return rfc3339(value) if value is not None else None


def rule_json(rule: Rule) -> dict[str, Any]:
    return {
        "effect": rule.effect.value,
        "actions": list(rule.actions),
        "resources": list(rule.resources),
    }


def rule_from_json(doc: Mapping[str, Any]) -> Rule:
    return Rule(
        parse_effect(str(doc.get("effect", ""))),
        [str(a) for a in doc.get("actions") or []],
        [str(r) for r in doc.get("resources") or []],
    )


def permission_json(permission: Permission) -> dict[str, Any]:
    """``{"id", "name", "description", "rules", "created_at", "created_by"}``."""
    return {
        "id": permission.id,
        "name": permission.name,
        "description": permission.description,
        "rules": [rule_json(r) for r in permission.rules],
        "created_at": _time(permission.created_at),
        "created_by": permission.created_by,
    }


def permission_from_json(doc: Mapping[str, Any]) -> Permission:
    created = doc.get("created_at")
    return Permission(
        id=str(doc["id"]),
        rules=[rule_from_json(r) for r in doc.get("rules") or []],
        name=str(doc.get("name") or ""),
        description=str(doc.get("description") or ""),
        created_at=parse_time(created) if created else None,
        created_by=str(doc.get("created_by") or ""),
    )


def permissions_json(policy: RbacPolicy) -> list[dict[str, Any]]:
    """Every permission, by ID."""
    return [permission_json(policy.permissions[k]) for k in sorted(policy.permissions)]


def permissions_from_json(docs: Sequence[Mapping[str, Any]]) -> list[Permission]:
    return [permission_from_json(d) for d in docs]


def role_json(role: Role, version: int | None = None) -> dict[str, Any]:
    """``{"id", "name", "description", "permissions", "created_at",
    "created_by", "version"}``; ``version`` is the policy's (left out when
    not known, as in what a client prints)."""
    doc: dict[str, Any] = {
        "id": role.id,
        "name": role.name,
        "description": role.description,
        "permissions": list(role.permissions),
        "created_at": _time(role.created_at),
        "created_by": role.created_by,
    }
    if version is not None:
        doc["version"] = version
    return doc


def role_from_json(doc: Mapping[str, Any]) -> Role:
    created = doc.get("created_at")
    return Role(
        id=str(doc["id"]),
        permissions=[str(p) for p in doc.get("permissions") or []],
        name=str(doc.get("name") or ""),
        description=str(doc.get("description") or ""),
        created_at=parse_time(created) if created else None,
        created_by=str(doc.get("created_by") or ""),
    )


def roles_json(policy: RbacPolicy) -> list[dict[str, Any]]:
    """Every role, by ID."""
    return [role_json(policy.roles[k], policy.version) for k in sorted(policy.roles)]


def roles_from_json(docs: Sequence[Mapping[str, Any]]) -> list[Role]:
    return [role_from_json(d) for d in docs]


def assignments_json(policy: RbacPolicy) -> list[dict[str, Any]]:
    """Every subject holding a role: ``[{"subject", "roles", "version"}]``."""
    return [
        {"subject": s, "roles": list(policy.assignments[s]), "version": policy.version}
        for s in sorted(policy.assignments)
    ]


def assignments_from_json(docs: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    return {str(d["subject"]): tuple(str(r) for r in d.get("roles") or []) for d in docs}


def held_roles_json(held: HeldRoles) -> dict[str, Any]:
    """``GET /v1/rbac/me``: ``{"rbac_enabled", "subject", "email", "groups",
    "kind", "roles", "token_id"?, "narrowed_to"?, "message"?}``."""
    principal = held.principal
    doc: dict[str, Any] = {
        "rbac_enabled": held.enabled,
        "subject": principal.subject,
        "email": principal.email,
        "groups": list(principal.groups),
        "kind": str(principal.kind),
        "roles": list(held.roles),
    }
    if principal.token_id:
        doc["token_id"] = principal.token_id
    if principal.narrowed_to is not None:
        doc["narrowed_to"] = list(principal.narrowed_to)
    if not held.enabled:
        doc["message"] = "RBAC is off: authentication is disabled on this server"
    elif not held.roles:
        doc["message"] = "No roles assigned"
    return doc


def held_roles_from_json(doc: Mapping[str, Any]) -> HeldRoles:
    try:
        kind = PrincipalKind(str(doc.get("kind") or PrincipalKind.USER))
    except ValueError:
        kind = PrincipalKind.USER
    narrowed = doc.get("narrowed_to")
    principal = Principal(
        subject=str(doc.get("subject") or ""),
        kind=kind,
        email=str(doc.get("email") or ""),
        groups=[str(g) for g in doc.get("groups") or []],
        token_id=str(doc.get("token_id") or ""),
        narrowed_to=[str(r) for r in narrowed] if isinstance(narrowed, list) else None,
    )
    return HeldRoles(
        bool(doc.get("rbac_enabled")), principal, tuple(str(r) for r in doc.get("roles") or [])
    )


def rbac_test_json(result: RbacTestResult) -> dict[str, Any]:
    """``POST /v1/rbac/test``: the reference's ``{"status", "reason",
    "user_roles", "applicable_permissions"}`` plus ``subject``, ``action``,
    ``resource``, ``basis`` and ``rule``, the rule that decided (``null``
    when none did): ``{"role", "permission", "number" (1-based), "effect",
    "actions", "resources"}``."""
    d = result.decision
    rule: dict[str, Any] | None = None
    if d.permission is not None and d.rule is not None:
        rule = {"role": d.role, "permission": d.permission, "number": d.rule + 1}
        if result.rule is not None:
            rule.update(rule_json(result.rule))
    return {
        "status": "allowed" if d.allowed else "denied",
        "reason": d.reason,
        "subject": result.subject,
        "action": d.action,
        "resource": d.resource,
        "basis": d.basis.value,
        "rule": rule,
        "user_roles": list(result.roles),
        "applicable_permissions": list(result.applicable_permissions),
    }


def rbac_test_from_json(doc: Mapping[str, Any]) -> RbacTestResult:
    rule = doc.get("rule")
    roles = tuple(str(r) for r in doc.get("user_roles") or [])
    decision = Decision(
        allowed=doc.get("status") == "allowed",
        action=str(doc.get("action") or ""),
        resource=str(doc.get("resource") or ""),
        basis=Basis(str(doc.get("basis") or Basis.NO_MATCHING_ALLOW.value)),
        roles=roles,
        role=str(rule["role"]) if isinstance(rule, dict) and rule.get("role") else None,
        permission=str(rule["permission"]) if isinstance(rule, dict) else None,
        rule=int(rule["number"]) - 1 if isinstance(rule, dict) else None,
    )
    return RbacTestResult(
        subject=str(doc.get("subject") or ""),
        decision=decision,
        roles=roles,
        applicable_permissions=tuple(str(p) for p in doc.get("applicable_permissions") or []),
        rule=rule_from_json(rule) if isinstance(rule, dict) and "effect" in rule else None,
    )
