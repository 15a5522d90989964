"""One error hierarchy for the whole domain.

Every front end maps these classes to its own vocabulary in exactly one place
(HTTP statuses in ``taco_http.errors``, exit codes in ``taco_cli.main``), so
the core never needs to know how an error is shown. Errors carry data
(``LockConflict.holder``) rather than pre-rendered strings where a front end
needs to show it in its own shape.
"""

from __future__ import annotations

from taco_core.model import LockInfo


class TacoError(Exception):
    """Base of every error the core raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(TacoError):
    """The caller sent something malformed; nothing was changed."""


class InvalidUnitId(InvalidInput):
    """A unit ID breaks the ID rules (see ``taco_core.unit_id``)."""


class InvalidState(InvalidInput):
    """A state payload is not a Terraform state (a JSON object)."""


class DamagedPayload(InvalidInput):
    """The bytes do not have the MD5 digest their sender computed for them
    (HTTP's and S3's ``Content-MD5``): they were damaged on their way."""

    def __init__(self, expected_md5: str, actual_md5: str) -> None:
        super().__init__(
            "the state does not match the MD5 digest sent with it (Content-MD5): "
            "it was damaged on its way; nothing was stored"
        )
        self.expected_md5 = expected_md5
        self.actual_md5 = actual_md5


class BodyTooLarge(InvalidInput):
    """A request body exceeds its size limit; ``what`` names the body (a lock
    request, a token request ...), so the caller knows which limit it met."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"{what} exceeds the size limit of {limit} bytes")
        self.what = what
        self.limit = limit


class StateTooLarge(BodyTooLarge):
    """A state payload exceeds the configured size limit."""

    def __init__(self, limit: int) -> None:
        super().__init__("state", limit)


class ReservedUnitId(InvalidInput):
    """The ID uses the platform's reserved ``__opentaco_`` prefix."""


class NotFound(TacoError):
    """Something named by the caller does not exist."""


class UnitNotFound(NotFound):
    def __init__(self, unit_id: str) -> None:
        super().__init__(f"unit {unit_id!r} not found")
        self.unit_id = unit_id


class VersionNotFound(NotFound):
    def __init__(self, unit_id: str, number: int) -> None:
        super().__init__(f"unit {unit_id!r} has no version {number}")
        self.unit_id = unit_id
        self.number = number


class Conflict(TacoError):
    """The request is well-formed but clashes with what is stored."""


class UnitAlreadyExists(Conflict):
    def __init__(self, unit_id: str) -> None:
        super().__init__(f"unit {unit_id!r} already exists")
        self.unit_id = unit_id


class LockConflict(Conflict):
    """Someone else holds the unit's lock. ``holder`` is that lock."""

    def __init__(self, unit_id: str, holder: LockInfo) -> None:
        who = f" ({holder.who})" if holder.who else ""
        super().__init__(f"unit {unit_id!r} is locked by lock {holder.id}{who}")
        self.unit_id = unit_id
        self.holder = holder


class StateRejected(Conflict):
    """The clobber guard refused a write; the payload was kept in quarantine.

    ``quarantined`` is the version number under which the refused bytes were
    kept, so the owner can inspect and, if it was right after all, restore it.
    """

    def __init__(self, unit_id: str, reason: str, quarantined: int | None) -> None:
        kept = (
            f"; the refused state was kept as quarantined version {quarantined}"
            if quarantined is not None
            else ""
        )
        super().__init__(f"write to unit {unit_id!r} refused: {reason}{kept}")
        self.unit_id = unit_id
        self.reason = reason
        self.quarantined = quarantined


class ConcurrentUpdate(Conflict):
    """Another writer moved the unit's head between our read and our write.

    The core retries on this; it reaches a caller only when contention persists.
    """

    def __init__(self, unit_id: str) -> None:
        super().__init__(f"unit {unit_id!r} was changed concurrently; retry the request")
        self.unit_id = unit_id


class Unauthenticated(TacoError):
    """The request carries no valid credentials (missing, expired, revoked, forged)."""


class CredentialExpired(Unauthenticated):
    """The credential was genuine but its lifetime is over; a fresh one works."""


class CredentialRevoked(Unauthenticated):
    """The credential was genuine but has been revoked (or the API token it
    was issued for has been)."""


class Forbidden(TacoError):
    """The caller is known but may not do this."""


class PermissionDenied(Forbidden):
    """The caller's roles do not allow ``action`` on ``resource``.

    ``resource`` is a unit ID, or ``*`` for actions that concern no unit
    (``rbac.manage``, ``token.manage``). ``reason`` says which rule decided, or
    that none allowed it, so the refusal can be explained without a lookup.
    """

    def __init__(self, action: str, resource: str, reason: str = "") -> None:
        target = "" if resource == "*" else f" on unit {resource!r}"
        why = f" ({reason})" if reason else ""
        super().__init__(f"permission denied: {action}{target} is not allowed{why}")
        self.action = action
        self.resource = resource
        self.reason = reason


class RoleNotFound(NotFound):
    def __init__(self, role_id: str) -> None:
        super().__init__(f"role {role_id!r} not found")
        self.role_id = role_id


class PermissionNotFound(NotFound):
    def __init__(self, permission_id: str) -> None:
        super().__init__(f"permission {permission_id!r} not found")
        self.permission_id = permission_id


class NotAssigned(NotFound):
    """``item`` is not assigned to ``assignee`` (a permission to a role, or a
    role to a subject), so there is nothing to revoke."""

    def __init__(self, item_kind: str, item: str, assignee: str) -> None:
        super().__init__(f"{item_kind} {item!r} is not assigned to {assignee!r}")
        self.item_kind = item_kind
        self.item = item
        self.assignee = assignee


class RoleAlreadyExists(Conflict):
    def __init__(self, role_id: str) -> None:
        super().__init__(f"role {role_id!r} already exists")
        self.role_id = role_id


class PermissionAlreadyExists(Conflict):
    def __init__(self, permission_id: str) -> None:
        super().__init__(f"permission {permission_id!r} already exists")
        self.permission_id = permission_id


class AlreadyAssigned(Conflict):
    """``item`` is already assigned to ``assignee``; nothing was changed."""

    def __init__(self, item_kind: str, item: str, assignee: str) -> None:
        super().__init__(f"{item_kind} {item!r} is already assigned to {assignee!r}")
        self.item_kind = item_kind
        self.item = item
        self.assignee = assignee


class StillReferenced(Conflict):
    """A role or permission cannot be deleted while others refer to it.

    ``referrers`` names them (subjects holding the role, roles holding the
    permission), so the caller can revoke it from each, or delete with cascade.
    """

    def __init__(self, item_kind: str, item_id: str, referrers: tuple[str, ...]) -> None:
        by = "assigned to subjects" if item_kind == "role" else "used by roles"
        names = ", ".join(repr(r) for r in referrers)
        super().__init__(
            f"{item_kind} {item_id!r} is still {by} {names}; revoke it from them first, "
            "or delete with cascade"
        )
        self.item_kind = item_kind
        self.item_id = item_id
        self.referrers = referrers


class WouldLockOut(Conflict):
    """The RBAC edit would leave nobody able to manage RBAC; it was refused."""


class ConcurrentPolicyUpdate(Conflict):
    """Other admins kept changing the RBAC policy while this edit retried.

    Edits re-read and retry when they lose a compare-and-swap; this reaches a
    caller only when contention persists.
    """

    def __init__(self) -> None:
        super().__init__("the RBAC policy was changed concurrently too often; retry the request")


class TokenNotFound(NotFound):
    def __init__(self, token_id: str) -> None:
        super().__init__(f"API token {token_id!r} not found")
        self.token_id = token_id


class OrganizationNotFound(NotFound):
    """No organization is known by ``organization`` (its external ID, ID or
    name); it has to be synced first."""

    def __init__(self, organization: str) -> None:
        super().__init__(
            f"organization {organization!r} not found; sync it first "
            "(POST /internal/api/orgs/sync with its name, display_name and external_org_id)"
        )
        self.organization = organization


class OrganizationAlreadyExists(Conflict):
    """Another organization already has this name or external ID."""

    def __init__(self, organization: str) -> None:
        super().__init__(f"an organization named or identified {organization!r} already exists")
        self.organization = organization


class ConcurrentDirectoryUpdate(Conflict):
    """Other syncs kept changing the organization directory while this one
    retried; it reaches a caller only when contention persists."""

    def __init__(self) -> None:
        super().__init__("the organization directory was changed concurrently too often; retry")


class UserNotFound(NotFound):
    def __init__(self, subject: str) -> None:
        super().__init__(f"user {subject!r} not found in this organization")
        self.subject = subject


class NotConfigured(TacoError):
    """The request needs something this server was not set up for (e.g. OIDC
    login without ``OPENTACO_AUTH_ISSUER``); the message names the setting."""


class IdentityProviderUnavailable(TacoError):
    """The OIDC provider could not be reached or answered nonsense; retry later."""


class StorageUnavailable(TacoError):
    """The storage backend could not be reached or failed; nothing was changed."""
