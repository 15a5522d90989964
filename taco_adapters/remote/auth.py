"""``RemoteAuth``: a server's auth API (``/v1/auth``), outside the ``StateControl`` port.

What ``taco login``, ``logout``, ``whoami``, ``creds`` and ``taco token`` call. Same
transport as ``RemoteStateControl``: timeouts, retries where safe, the Bearer
token and its renewal; the public endpoints (config, exchange, refresh,
logout) are called without credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from taco_adapters.remote.transport import RemoteClient
from taco_adapters.wire import (
    AuthConfig,
    ExchangeRequest,
    RefreshRequest,
    TokenRequest,
    api_tokens_from_json,
    auth_config_from_json,
    issued_tokens_from_json,
    new_api_token_from_json,
    principal_from_json,
    request_json,
    s3_credentials_from_json,
)
from taco_core.auth import ApiToken, IssuedTokens, NewApiToken, Principal
from taco_core.s3_credentials import S3Credentials


class RemoteAuth(RemoteClient):
    """The auth API of the server at ``server``; arguments as ``RemoteStateControl``'s."""

    async def auth_config(self) -> AuthConfig:
        """How to log in to this server (``GET /v1/auth/config``, public)."""
        reply = await self._http.call("GET", "/v1/auth/config", safe=True, authenticate=False)
        return auth_config_from_json(reply.json())

    async def exchange_id_token(self, id_token: str, *, nonce: str | None = None) -> IssuedTokens:
        """Trade an ID token from the server's OIDC provider for the server's
        own tokens. ``nonce`` is the one sent in the authorization request, so
        the server can tell this login's ID token from a captured one."""
        body = request_json(ExchangeRequest(id_token, nonce))
        reply = await self._http.call(
            "POST", "/v1/auth/exchange", json_body=body, authenticate=False
        )
        return issued_tokens_from_json(reply.json())

    async def refresh_tokens(self, refresh_token: str) -> IssuedTokens:
        """A new token pair for a refresh token, which is spent by the call
        (never retried: a resent refresh would look like a stolen token)."""
        return await self._http.refresh(refresh_token)

    async def logout(self, refresh_token: str) -> None:
        """End the login session ``refresh_token`` belongs to (idempotent)."""
        body = request_json(RefreshRequest(refresh_token))
        await self._http.call(
            "POST", "/v1/auth/logout", json_body=body, safe=True, authenticate=False
        )

    async def me(self) -> Principal:
        """Who the server takes the caller for (``GET /v1/auth/me``)."""
        reply = await self._http.call("GET", "/v1/auth/me", safe=True)
        return principal_from_json(reply.json())

    async def issue_s3_credentials(self) -> S3Credentials:
        """Short-lived S3 credentials acting as the caller, for the server's
        S3-compatible endpoint (``POST /v1/auth/issue-s3-creds``). Minting a
        second set changes nothing, so it may be retried."""
        reply = await self._http.call("POST", "/v1/auth/issue-s3-creds", safe=True)
        return s3_credentials_from_json(reply.json())

    async def create_api_token(
        self,
        name: str,
        *,
        expires_in: str | None = None,
        subject: str | None = None,
        roles: Sequence[str] | None = None,
    ) -> NewApiToken:
        """A new API token acting as the caller, or as ``subject`` (a service
        subject; needs ``token.manage``), narrowed to ``roles`` when given.
        ``expires_in`` is seconds or a duration such as ``"90d"``; without it
        the token lives until revoked. The secret is in the answer only: the
        server keeps its hash."""
        lifetime: int | str | None = expires_in
        if expires_in is not None and expires_in.isdigit():
            lifetime = int(expires_in)
        body = request_json(
            TokenRequest(name, lifetime, subject, list(roles) if roles is not None else None)
        )
        reply = await self._http.call("POST", "/v1/auth/tokens", json_body=body)
        return new_api_token_from_json(reply.json())

    async def list_api_tokens(self) -> Sequence[ApiToken]:
        """The caller's API tokens (every token, for an admin); never a secret."""
        reply = await self._http.call("GET", "/v1/auth/tokens", safe=True)
        return api_tokens_from_json(reply.json())

    async def revoke_api_token(self, token_id: str) -> None:
        """Revoke an API token at once; ``TokenNotFound`` when the caller has
        no such token. Revoking twice is harmless, so it may be retried."""
        await self._http.call("DELETE", f"/v1/auth/tokens/{quote(token_id, safe='')}", safe=True)
