"""The one mapping from core errors to S3 errors, for the S3 endpoint.

S3 clients show the code and message of an S3 error and decide from its
status whether to retry, so every ``TacoError`` becomes the S3 error that
means the same (``PermissionDenied`` is ``AccessDenied``, naming the action
and the unit RBAC refused; a missing unit is ``NoSuchKey``; a store that is
down is ``ServiceUnavailable``, which SDKs retry). Where S3 has no word for
what happened (a held lock, a write the clobber guard refused), the code is
our own and the message says it all: Terraform prints both.
"""

from __future__ import annotations

import logging

from taco_core.errors import (
    ConcurrentUpdate,
    Conflict,
    Forbidden,
    IdentityProviderUnavailable,
    InvalidInput,
    LockConflict,
    NotConfigured,
    NotFound,
    PermissionDenied,
    StateRejected,
    StateTooLarge,
    StorageUnavailable,
    TacoError,
    Unauthenticated,
)
from taco_http.s3api.errors import (
    AccessDenied,
    ConditionalRequestConflict,
    EntityTooLarge,
    InternalError,
    InvalidArgument,
    NoSuchKey,
    NotImplementedS3,
    PreconditionFailed,
    S3Error,
    ServiceUnavailable,
)

log = logging.getLogger("opentaco.s3")


class StateLocked(S3Error):
    """A write or delete refused because someone else holds the unit's lock."""

    code = "StateLocked"
    status = 409
    default_message = "The state is locked."


class StateRejectedS3(S3Error):
    """The clobber guard refused the write; the state was kept in quarantine."""

    code = "StateRejected"
    status = 409
    default_message = "The write was refused."


class ConflictS3(S3Error):
    code = "Conflict"
    status = 409
    default_message = "The request conflicts with the current state of the unit."


def lock_details(exc: LockConflict) -> dict[str, str]:
    """The holder of a lock, as extra fields of the error body."""
    holder = exc.holder
    details = {"LockID": holder.id}
    if holder.who:
        details["Who"] = holder.who
    if holder.operation:
        details["Operation"] = holder.operation
    if holder.created:
        details["Created"] = holder.created
    return details


def denial_details(exc: PermissionDenied) -> dict[str, str]:
    """What RBAC refused, as extra fields of the error body: the action, the
    unit (none for actions that concern no unit) and the reason."""
    details = {"Action": exc.action}
    if exc.resource != "*":
        details["Unit"] = exc.resource
    if exc.reason:
        details["Reason"] = exc.reason
    return details


def s3_error_of(exc: TacoError, *, locking: bool = False) -> S3Error:
    """The S3 error that says what ``exc`` says. ``locking``: the request
    was a lock (a ``.tflock`` upload), whose "already held" is S3's
    ``412 PreconditionFailed``, as Terraform's lockfile expects."""
    if isinstance(exc, LockConflict):
        if locking:
            return PreconditionFailed(exc.message, Condition="If-None-Match", **lock_details(exc))
        return StateLocked(exc.message, **lock_details(exc))
    if isinstance(exc, StateTooLarge):
        return EntityTooLarge(exc.message, MaxSizeAllowed=str(exc.limit))
    if isinstance(exc, StateRejected):
        return StateRejectedS3(exc.message)
    if isinstance(exc, InvalidInput):
        return InvalidArgument(exc.message)
    if isinstance(exc, NotFound):
        return NoSuchKey(exc.message)
    if isinstance(exc, ConcurrentUpdate):
        return ConditionalRequestConflict(exc.message)
    if isinstance(exc, Conflict):
        return ConflictS3(exc.message)
    if isinstance(exc, PermissionDenied):
        return AccessDenied(exc.message, **denial_details(exc))
    if isinstance(exc, Forbidden | Unauthenticated):
        return AccessDenied(exc.message)
    if isinstance(exc, StorageUnavailable | IdentityProviderUnavailable):
        log.error("S3 endpoint: %s", exc.message)
        return ServiceUnavailable(exc.message)
    if isinstance(exc, NotConfigured):
        return NotImplementedS3(exc.message)
    log.error("S3 endpoint: unexpected %s: %s", type(exc).__name__, exc.message)
    return InternalError()
