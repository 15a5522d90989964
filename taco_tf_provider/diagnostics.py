"""The one mapping from failures to the diagnostics Terraform shows.

Every call of a resource or data source into the service runs inside
``Reporter``, which turns whatever it raises into an error diagnostic: the
summary names what the provider was doing, the detail carries the service's own
message and, where it helps, what to do next. Nothing escapes as an exception,
so the user never sees a Python traceback or a bare gRPC error.
"""

from __future__ import annotations

from types import TracebackType

from tf.utils import Diagnostics

from taco_core.errors import (
    Forbidden,
    InvalidInput,
    LockConflict,
    NotFound,
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


def explain(exc: Exception, action: str, connection: Connection | None) -> tuple[str, str]:
    """Summary and detail of the diagnostic for ``exc`` raised while doing ``action``."""
    server = connection.endpoint if connection is not None else "the OpenTaco server"
    if isinstance(exc, LockConflict):
        return _locked(exc, action)
    if isinstance(exc, Forbidden):
        return (
            f"Permission denied: cannot {action}",
            f"{server} does not allow this token to {action}: {exc.message}",
        )
    if isinstance(exc, SessionExpired):
        return (
            f"Login expired: cannot {action}",
            f"{exc.message}\nLog in again with: taco login --server {server}\n"
            f"or set {TOKEN_ENV} to an API token.",
        )
    if isinstance(exc, Unauthenticated):
        return f"Not authenticated: cannot {action}", _unauthenticated(exc, server, connection)
    if isinstance(exc, ServerUnreachable):
        return (
            f"Cannot reach the OpenTaco server: cannot {action}",
            f"{exc.message}\nIs opentacosvc running there? Set the provider's endpoint "
            f"argument or {ENDPOINT_ENV} to its URL.",
        )
    if isinstance(exc, UnitAlreadyExists):
        return (
            f"Already exists: cannot {action}",
            f"{exc.message}\nTo manage the existing unit with Terraform, import it:\n"
            f"  terraform import <resource address> {exc.unit_id}",
        )
    if isinstance(exc, NotFound):
        return f"Not found: cannot {action}", exc.message
    if isinstance(exc, InvalidInput):
        return f"Invalid value: cannot {action}", exc.message
    if isinstance(exc, TacoError):
        return f"Cannot {action}", exc.message
    if isinstance(exc, ConfigError):
        return "Invalid OpenTaco provider configuration", exc.message
    return (
        f"Internal error in the OpenTaco provider: cannot {action}",
        f"{type(exc).__name__}: {exc}\nThis is a bug in the provider; please report it "
        "with the Terraform command that failed.",
    )


def _locked(exc: LockConflict, action: str) -> tuple[str, str]:
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
    return f'Unit "{exc.unit_id}" is locked by {who}: cannot {action}', "\n".join(lines)


def _unauthenticated(exc: Unauthenticated, server: str, connection: Connection | None) -> str:
    source = connection.source if connection is not None else TokenSource.NONE
    if source is TokenSource.NONE:
        return (
            f"{server} requires authentication and no token was found: {exc.message}\n"
            f"Set {TOKEN_ENV} to an API token (taco token create --name terraform), "
            f"or log in with: taco login --server {server}"
        )
    return (
        f"{server} refused the token from {source}: {exc.message}\n"
        "Is it revoked or expired? Create a new one with: taco token create --name terraform"
    )


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
