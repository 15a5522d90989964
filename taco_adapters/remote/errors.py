"""The one mapping from the server's error answers back to the core's errors,
and the two errors only a client meets.

An answer's ``kind`` names the core class exactly, and its fields carry the
error's data (``taco_adapters.wire.errors``). An answer without a known
``kind`` (a proxy in front of the server, a route that does not exist) keeps
the right base class for its status (``NotFound``, ``Conflict`` ...) and the
words it came with; nothing is ever guessed from a message.
"""

from __future__ import annotations

from typing import Any

from taco_adapters.wire import ERRORS_BY_KIND, rebuild
from taco_core.errors import (
    Conflict,
    Forbidden,
    IdentityProviderUnavailable,
    InvalidInput,
    LockConflict,
    NotFound,
    StateRejected,
    StateTooLarge,
    StorageUnavailable,
    TacoError,
    Unauthenticated,
)


class ServerUnreachable(StorageUnavailable):
    """No connection to the server could be made (refused, unknown host,
    connect timeout): nothing was sent, so nothing changed."""


class SessionExpired(Unauthenticated):
    """The server refused the access token and the login session could not be
    renewed (refresh token expired, revoked or already used): the user has to
    log in again."""


# Failures on the server's side: the message says which server failed.
_SERVER_SIDE: tuple[type[TacoError], ...] = (StorageUnavailable, IdentityProviderUnavailable)

_BY_STATUS: dict[int, type[TacoError]] = {
    400: InvalidInput,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    # A proxy's 413 (nginx's client_max_body_size) most often meets a state upload.
    413: StateTooLarge,
    423: Conflict,
}


def error_for(status: int, reason: str, doc: dict[str, Any], text: str, server: str) -> TacoError:
    """The ``TacoError`` an error answer from ``server`` stands for: its
    status and reason phrase, its body as a JSON object (``{}`` when it is
    none) and as text."""
    message = str(doc.get("error") or text.strip()) or f"HTTP {status} {reason}"
    kind = doc.get("kind")
    cls = ERRORS_BY_KIND.get(kind) if isinstance(kind, str) else None
    if cls is None:
        cls = _by_status(status, doc)
    if cls is None:
        if status < 500:
            return TacoError(
                f"the OpenTaco server at {server} answered {status} {reason}: {message}"
            )
        cls = StorageUnavailable
    if issubclass(cls, _SERVER_SIDE):
        return cls(f"the OpenTaco server at {server} failed ({status} {reason}): {message}")
    return rebuild(cls, doc, message)


def _by_status(status: int, doc: dict[str, Any]) -> type[TacoError] | None:
    """The class an answer without a known ``kind`` gets: by its status, or
    by the data it carries where the status is shared (Terraform's backend
    answers a lock conflict with the holder and no ``kind``)."""
    if status == 423 and isinstance(doc.get("lock"), dict):
        return LockConflict
    if status == 409 and ("reason" in doc or "quarantined_version" in doc):
        return StateRejected
    return _BY_STATUS.get(status)
