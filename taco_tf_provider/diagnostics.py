"""The one mapping from failures to the diagnostics Terraform shows.

Every call of a resource or data source into the service runs inside
``Reporter``, which turns whatever it raises into an error diagnostic through
``EXPLANATIONS``: one table from error classes (the core's, the remote
client's, the provider's own) to a summary naming what the provider was doing
and a detail carrying the service's own message and, where it helps, what to
do next. Nothing escapes as an exception, so the user never sees a Python
traceback or a bare gRPC error.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

from attrs import frozen
from tf.utils import Diagnostics

from taco_core.errors import (
    Forbidden,
    InvalidInput,
    LockConflict,
    NotFound,
    PermissionDenied,
    TacoError,
    Unauthenticated,
    UnitAlreadyExists,
)
from taco_tf_provider.client import (
    ENDPOINT_ENV,
    TOKEN_ENV,
    Connection,
    ServerUnreachable,
    SessionExpired,
    TokenSource,
)
from taco_tf_provider.errors import ConfigError


@frozen
class Failure:
    """What was being done when ``exc`` was raised, and against which server."""

    action: str
    connection: Connection | None

    @property
    def server(self) -> str:
        return self.connection.endpoint if self.connection is not None else "the OpenTaco server"

    @property
    def token_source(self) -> TokenSource:
        return self.connection.source if self.connection is not None else TokenSource.NONE


Explanation = tuple[str, str]
"""A diagnostic's summary and detail."""


def _permission_denied(exc: PermissionDenied, f: Failure) -> Explanation:
    needs = exc.action if exc.resource == "*" else f'{exc.action} on "{exc.resource}"'
    return (
        f"Permission denied: cannot {f.action} (needs {needs})",
        f"{f.server} refused the token from {f.token_source}: {exc.message}\n"
        f"Ask an administrator for a role that allows {needs}; "
        "taco rbac me lists the roles you have.",
    )


def _forbidden(exc: Forbidden, f: Failure) -> Explanation:
    return (
        f"Permission denied: cannot {f.action}",
        f"{f.server} does not allow this token to {f.action}: {exc.message}",
    )


def _locked(exc: LockConflict, f: Failure) -> Explanation:
    holder = exc.holder
    lines = [
        exc.message,
        "",
        "Lock held by:",
        f"  Who:       {holder.who or '-'}",
        f"  ID:        {holder.id}",
        f"  Since:     {holder.created or '-'}",
    ]
    if holder.operation:
        lines.append(f"  Operation: {holder.operation}")
    if holder.info:
        lines.append(f"  Info:      {holder.info}")
    lines += [
        "",
        "Retry once the holder is done. If the lock is stale, release it with:",
        f"  taco unit unlock {exc.unit_id} --force",
    ]
    who = holder.who or f"lock {holder.id}"
    return f'Unit "{exc.unit_id}" is locked by {who}: cannot {f.action}', "\n".join(lines)


def _session_expired(exc: SessionExpired, f: Failure) -> Explanation:
    return (
        f"Login expired: cannot {f.action}",
        f"{exc.message}\nLog in again with: taco login --server {f.server}\n"
        f"or set {TOKEN_ENV} to an API token.",
    )


def _unauthenticated(exc: Unauthenticated, f: Failure) -> Explanation:
    summary = f"Not authenticated: cannot {f.action}"
    if f.token_source is TokenSource.NONE:
        return summary, (
            f"{f.server} requires authentication and no token was found: {exc.message}\n"
            f"Set {TOKEN_ENV} to an API token (taco token create --name terraform), "
            f"or log in with: taco login --server {f.server}"
        )
    return summary, (
        f"{f.server} refused the token from {f.token_source}: {exc.message}\n"
        "Is it revoked or expired? Create a new one with: taco token create --name terraform"
    )


def _unreachable(exc: ServerUnreachable, f: Failure) -> Explanation:
    return (
        f"Cannot reach the OpenTaco server: cannot {f.action}",
        f"{exc.message}\nIs opentacosvc running there? Set the provider's endpoint "
        f"argument or {ENDPOINT_ENV} to its URL.",
    )


def _already_exists(exc: UnitAlreadyExists, f: Failure) -> Explanation:
    return (
        f"Already exists: cannot {f.action}",
        f"{exc.message}\nTo manage the existing unit with Terraform, import it:\n"
        f"  terraform import <resource address> {exc.unit_id}",
    )


def _not_found(exc: NotFound, f: Failure) -> Explanation:
    return f"Not found: cannot {f.action}", exc.message


def _invalid(exc: InvalidInput, f: Failure) -> Explanation:
    return f"Invalid value: cannot {f.action}", exc.message


def _service(exc: TacoError, f: Failure) -> Explanation:
    return f"Cannot {f.action}", exc.message


def _config(exc: ConfigError, f: Failure) -> Explanation:
    return "Invalid OpenTaco provider configuration", exc.message


def _bug(exc: Exception, f: Failure) -> Explanation:
    return (
        f"Internal error in the OpenTaco provider: cannot {f.action}",
        f"{type(exc).__name__}: {exc}\nThis is a bug in the provider; please report it "
        "with the Terraform command that failed.",
    )


# Most specific first: the first class ``exc`` is an instance of explains it.
EXPLANATIONS: tuple[tuple[type[Exception], Callable[[Any, Failure], Explanation]], ...] = (
    (LockConflict, _locked),
    (PermissionDenied, _permission_denied),
    (Forbidden, _forbidden),
    (SessionExpired, _session_expired),
    (Unauthenticated, _unauthenticated),
    (ServerUnreachable, _unreachable),
    (UnitAlreadyExists, _already_exists),
    (NotFound, _not_found),
    (InvalidInput, _invalid),
    (TacoError, _service),
    (ConfigError, _config),
    (Exception, _bug),
)


def explain(exc: Exception, action: str, connection: Connection | None) -> Explanation:
    """Summary and detail of the diagnostic for ``exc`` raised while doing ``action``."""
    failure = Failure(action, connection)
    for cls, explanation in EXPLANATIONS:
        if isinstance(exc, cls):
            return explanation(exc, failure)
    return _bug(exc, failure)


class Reporter:
    """A context that turns any ``Exception`` raised in it into an error
    diagnostic, and swallows it: code after the block runs and decides what
    Terraform gets back (usually the state as it was)."""

    def __init__(self, diags: Diagnostics, action: str, connection: Connection | None) -> None:
        self.diags = diags
        self.action = action
        self.connection = connection

    def __enter__(self) -> Reporter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        summary, detail = explain(exc, self.action, self.connection)
        self.diags.add_error(summary, detail)
        return True
