"""Error answers on the wire: every core error as a body that names its class
(``kind``) and carries its data, and back.

A server renders any ``TacoError`` with ``error_json``; a client rebuilds the
very same class, with the same data, with ``error_from_json``. Nothing is
read out of the message: an error's data travel as fields named like the
attributes that hold them (``unit_id``, ``number``, ``holder`` as ``lock``
...), and its constructor takes them under those names, which is the
convention every ``TacoError`` with data follows.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

from attrs import frozen

from taco_adapters.wire.locks import held_lock_from_json, lock_json
from taco_core import errors as core
from taco_core.errors import TacoError


@frozen
class ErrorDoc:
    """An error answer (``error_json``): what is wrong and how to fix it, the
    error's class in snake case, and its data (``unit_id``, ``lock`` ...)."""

    error: str
    kind: str = ""


# Every class a server may name, by kind. Base classes are here too: a front
# end may raise one directly (``NotFound`` for an unknown route).
ERROR_CLASSES: tuple[type[TacoError], ...] = (
    core.TacoError,
    core.InvalidInput,
    core.InvalidUnitId,
    core.InvalidState,
    core.DamagedPayload,
    core.BodyTooLarge,
    core.StateTooLarge,
    core.ReservedUnitId,
    core.NotFound,
    core.UnitNotFound,
    core.VersionNotFound,
    core.TokenNotFound,
    core.Conflict,
    core.UnitAlreadyExists,
    core.LockConflict,
    core.StateRejected,
    core.ConcurrentUpdate,
    core.Unauthenticated,
    core.CredentialExpired,
    core.CredentialRevoked,
    core.Forbidden,
    core.NotConfigured,
    core.IdentityProviderUnavailable,
    core.StorageUnavailable,
    core.PermissionDenied,
    core.RoleNotFound,
    core.PermissionNotFound,
    core.NotAssigned,
    core.RoleAlreadyExists,
    core.PermissionAlreadyExists,
    core.AlreadyAssigned,
    core.StillReferenced,
    core.WouldLockOut,
    core.ConcurrentPolicyUpdate,
    core.OrganizationNotFound,
    core.OrganizationAlreadyExists,
    core.ConcurrentDirectoryUpdate,
    core.UserNotFound,
)


def kind_of(error: TacoError | type[TacoError]) -> str:
    """A stable, machine-readable name of the error's class, its name in
    snake case (``UnitNotFound`` -> ``unit_not_found``)."""
    cls = error if isinstance(error, type) else type(error)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


ERRORS_BY_KIND: dict[str, type[TacoError]] = {kind_of(cls): cls for cls in ERROR_CLASSES}


# attribute -> (body field, render, parse, value when the body lacks it)
_DATA: dict[str, tuple[str, Callable[[Any], Any], Callable[[Any], Any], Any]] = {
    "unit_id": ("unit_id", str, str, ""),
    "number": ("number", int, int, 0),
    "token_id": ("token_id", str, str, ""),
    "limit": ("limit", int, int, 0),
    "what": ("what", str, str, "request body"),
    "holder": ("lock", lock_json, held_lock_from_json, None),
    "reason": ("reason", str, str, ""),
    "quarantined": ("quarantined_version", lambda v: v, lambda v: v, None),
    "action": ("action", str, str, ""),
    "resource": ("resource", str, str, ""),
    "role_id": ("role_id", str, str, ""),
    "permission_id": ("permission_id", str, str, ""),
    "item_kind": ("item_kind", str, str, ""),
    "item": ("item", str, str, ""),
    "item_id": ("item_id", str, str, ""),
    "assignee": ("assignee", str, str, ""),
    "referrers": ("referrers", list, tuple, ()),
    "organization": ("organization", str, str, ""),
    "subject": ("subject", str, str, ""),
    "expected_md5": ("expected_md5", str, str, ""),
    "actual_md5": ("actual_md5", str, str, ""),
}


def error_json(error: TacoError) -> dict[str, Any]:
    """``{"error": message, "kind": kind}`` and the error's data, if any."""
    body: dict[str, Any] = {"error": error.message, "kind": kind_of(error)}
    for attribute, (key, render, _, _) in _DATA.items():
        if hasattr(error, attribute):
            value = getattr(error, attribute)
            body[key] = render(value) if value is not None else None
    return body


def error_from_json(doc: Mapping[str, Any], message: str) -> TacoError | None:
    """The error a body with a known ``kind`` stands for, with its data and
    ``message`` (the server's words); ``None`` for an unknown or missing kind."""
    kind = doc.get("kind")
    cls = ERRORS_BY_KIND.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return None
    return rebuild(cls, doc, message)


def rebuild(cls: type[TacoError], doc: Mapping[str, Any], message: str) -> TacoError:
    """``cls`` built from the data in ``doc`` (defaults where it has none),
    carrying ``message``: the server knew details the client could not. When
    the data cannot build it (a lock conflict without its lock), the nearest
    base class that is only a message stands in."""
    params = _params(cls)
    if params == ["message"]:
        return cls(message)
    try:
        args: dict[str, Any] = {}
        for name in params:
            key, _, parse, missing = _DATA[name]
            raw = doc.get(key)
            if name == "reason" and not raw:
                raw = message
            args[name] = parse(raw) if raw is not None else missing
        error = cls(**args)
    except (TypeError, ValueError, KeyError, AttributeError):
        base = next(
            c for c in cls.__mro__ if issubclass(c, TacoError) and _params(c) == ["message"]
        )
        return base(message)
    error.message = message
    error.args = (message,)
    return error


def _params(cls: type[TacoError]) -> list[str]:
    return list(inspect.signature(cls).parameters)
