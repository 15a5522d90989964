"""What a server publishes for logging in (``GET /v1/auth/config``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import frozen

from taco_adapters.wire.converter import converter


@frozen
class AuthConfig:
    """How to log in to a server.

    The endpoints are empty when the server could not learn them from its
    identity provider; a client then asks the provider's discovery document.
    """

    auth_enabled: bool
    oidc_enabled: bool
    issuer: str = ""
    client_id: str = ""
    authorization_endpoint: str = ""
    token_endpoint: str = ""
    redirect_uris: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()


# Left out while unknown (the provider could not be reached), rather than sent empty.
_OPTIONAL = ("authorization_endpoint", "token_endpoint")


def auth_config_json(config: AuthConfig) -> dict[str, Any]:
    doc: dict[str, Any] = converter.unstructure(config)
    return {
        k: list(v) if isinstance(v, tuple) else v for k, v in doc.items() if v or k not in _OPTIONAL
    }


def auth_config_from_json(doc: Mapping[str, Any]) -> AuthConfig:
    """Read leniently: a field of the wrong type reads as absent, so an older
    or newer server still says whether auth is on."""

    def text(name: str) -> str:
        value = doc.get(name)
        return value if isinstance(value, str) else ""

    def texts(name: str) -> tuple[str, ...]:
        value = doc.get(name)
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    return AuthConfig(
        auth_enabled=bool(doc.get("auth_enabled", True)),
        oidc_enabled=bool(doc.get("oidc_enabled", bool(text("issuer")))),
        issuer=text("issuer"),
        client_id=text("client_id"),
        authorization_endpoint=text("authorization_endpoint"),
        token_endpoint=text("token_endpoint"),
        redirect_uris=texts("redirect_uris"),
        scopes=texts("scopes"),
    )
