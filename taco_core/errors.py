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


class Forbidden(TacoError):
    """The caller is known but may not do this."""


class TokenNotFound(NotFound):
    def __init__(self, token_id: str) -> None:
        super().__init__(f"API token {token_id!r} not found")
        self.token_id = token_id


class NotConfigured(TacoError):
    """The request needs something this server was not set up for (e.g. OIDC
    login without ``OPENTACO_AUTH_ISSUER``); the message names the setting."""


class IdentityProviderUnavailable(TacoError):
    """The OIDC provider could not be reached or answered nonsense; retry later."""


class StorageUnavailable(TacoError):
    """The storage backend could not be reached or failed; nothing was changed."""
