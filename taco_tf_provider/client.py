"""Where the provider meets the service: the HTTP client the CLI uses, and the
logins ``taco login`` saves.

This is the only module of the provider that imports the remote client
(``taco_adapters.remote``, shared with the CLI), so moving it is a change here
and nowhere else.

``resolve`` decides where to connect and as whom, with the CLI's conventions so
that a machine set up for ``taco`` is set up for Terraform too:

- endpoint: the provider block's ``endpoint``, else ``OPENTACO_ENDPOINT``, else the
  CLI's server (``OPENTACO_SERVER``, else ``http://localhost:8080``);
- token: the block's ``token``, else ``OPENTACO_TOKEN``, else the login ``taco
  login`` saved for exactly that endpoint (renewed, and saved back, when the
  server refuses an expired access token), else none.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from attrs import field, frozen

from taco_adapters.remote import (
    DEFAULT_SERVER,
    SERVER_ENV,
    TOKEN_ENV,
    Credentials,
    CredentialsFile,
    CredentialsFileError,
    RemoteDependencyGraph,
    RemoteStateControl,
    SavedCredentials,
    ServerUnreachable,
    SessionExpired,
    StaticToken,
)
from taco_tf_provider.control import ProviderControl
from taco_tf_provider.errors import ConfigError

__all__ = [
    "ENDPOINT_ENV",
    "SERVER_ENV",
    "TOKEN_ENV",
    "Connection",
    "ProviderClient",
    "ServerUnreachable",
    "SessionExpired",
    "TokenSource",
    "connect",
    "resolve",
]

ENDPOINT_ENV = "OPENTACO_ENDPOINT"


class TokenSource(StrEnum):
    """Where the token sent to the service came from (error messages name it)."""

    ARGUMENT = "the provider's token argument"
    ENVIRONMENT = TOKEN_ENV
    SAVED = "the login saved by taco login"
    NONE = "none"


@frozen
class Connection:
    """Where the provider connects, and with which credentials."""

    endpoint: str
    source: TokenSource
    credentials: Credentials | None = field(default=None, eq=False, repr=False)
    warnings: tuple[str, ...] = ()


def resolve(endpoint: str | None, token: str | None, environ: Mapping[str, str]) -> Connection:
    """The connection for a provider block (see the module docstring);
    ``ConfigError`` for an endpoint that is not a URL or an unreadable login."""
    chosen = endpoint or environ.get(ENDPOINT_ENV) or environ.get(SERVER_ENV) or DEFAULT_SERVER
    chosen = chosen.strip().rstrip("/")
    if not chosen.startswith(("http://", "https://")):
        raise ConfigError(f"endpoint must be an http:// or https:// URL, got {chosen!r}")
    if token:
        return Connection(chosen, TokenSource.ARGUMENT, StaticToken(token))
    from_env = environ.get(TOKEN_ENV, "").strip()
    if from_env:
        return Connection(chosen, TokenSource.ENVIRONMENT, StaticToken(from_env))
    store = CredentialsFile.default(environ)
    try:
        saved = SavedCredentials.load(store, chosen)
    except CredentialsFileError as exc:
        raise ConfigError(exc.message) from None
    if saved is None:
        return Connection(chosen, TokenSource.NONE)
    exposure = store.exposure()
    return Connection(chosen, TokenSource.SAVED, saved, (exposure,) if exposure else ())


def connect(connection: Connection) -> ProviderControl:
    """The client for ``connection``; call it inside the event loop that will use it."""
    return ProviderClient(connection.endpoint, credentials=connection.credentials)


class ProviderClient(RemoteStateControl, RemoteDependencyGraph):
    """The CLI's clients of the units and of the dependency graph, over one
    connection pool (both are ``RemoteClient`` subclasses: one transport)."""
