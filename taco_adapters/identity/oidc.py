"""Verifying ID tokens from an OpenID Connect provider: the ``IdTokenVerifier``.

The provider is found through its discovery document
(``<issuer>/.well-known/openid-configuration``), whose ``issuer`` must be the
configured one and whose ``jwks_uri`` gives the signing keys. Keys are cached
and fetched again when a token names a ``kid`` we have not seen, which is how
providers announce a rotation; that refetch is rate-limited so a stream of
made-up ``kid`` values cannot turn into a stream of requests to the provider.

Only asymmetric algorithms are accepted: an ID token for a public client (a
CLI has no secret) is never HMAC-signed, and accepting HMAC would open the
key-confusion attack. The HTTP client (aiohttp) is created on first use,
inside the event loop that serves requests, and closed by ``aclose``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aiohttp
from attrs import frozen
from joserfc import jwt
from joserfc.jwk import Key, KeySet

from taco_adapters.identity.discovery import discover, fetch_json
from taco_adapters.identity.jose import JOSE_ERRORS, compact_header, reason
from taco_core.errors import IdentityProviderUnavailable, Unauthenticated

ID_TOKEN_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
)
LEEWAY_SECONDS = 60
# What an unusable JWKS document raises while it is imported.
_JWKS_ERRORS: tuple[type[Exception], ...] = (*JOSE_ERRORS, KeyError)
_REFETCH_INTERVAL_SECONDS = 10.0
_TIMEOUT_SECONDS = 10.0

# WorkOS User Management publishes no discovery document at the bare issuer
# users are told to configure; its endpoints are well known instead.
_WORKOS = "https://api.workos.com/user_management"


@frozen
class OidcSettings:
    """Where the provider is and what its ID tokens must say.

    ``accepted_issuers`` are the ``iss`` values taken (the configured issuer,
    and whatever the discovery document names); explicit endpoint URLs win
    over the discovery document's.
    """

    issuer: str
    client_id: str
    accepted_issuers: tuple[str, ...] = ()
    jwks_url: str = ""
    authorization_endpoint: str = ""
    token_endpoint: str = ""


def provider_settings(
    issuer: str,
    client_id: str,
    *,
    auth_url: str = "",
    token_url: str = "",
    jwks_url: str = "",
) -> OidcSettings:
    """Settings for ``issuer``, with the known defaults of providers that need them."""
    accepted: tuple[str, ...] = (issuer,)
    if issuer.rstrip("/") == _WORKOS:
        accepted = (_WORKOS, f"{_WORKOS}/{client_id}")
        jwks_url = jwks_url or f"https://api.workos.com/sso/jwks/{client_id}"
        auth_url = auth_url or f"{_WORKOS}/authorize"
        token_url = token_url or f"{_WORKOS}/authenticate"
    return OidcSettings(
        issuer=issuer,
        client_id=client_id,
        accepted_issuers=accepted,
        jwks_url=jwks_url,
        authorization_endpoint=auth_url,
        token_endpoint=token_url,
    )


class OidcIdTokenVerifier:
    """``IdTokenVerifier`` for one provider and one client ID."""

    def __init__(
        self,
        settings: OidcSettings,
        *,
        timeout: float = _TIMEOUT_SECONDS,
        refetch_interval: float = _REFETCH_INTERVAL_SECONDS,
    ) -> None:
        self.settings = settings
        self._refetch_interval = refetch_interval
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._keys_fetched = float("-inf")
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- discovery -------------------------------------------------------------

    async def metadata(self) -> Mapping[str, Any]:
        """The provider's discovery document (fetched once, then cached)."""
        if self._metadata is None:
            self._metadata = await discover(self._client(), self.settings.issuer)
        return self._metadata

    async def endpoints(self) -> dict[str, str]:
        """The authorization and token endpoints a login client needs; what
        cannot be found (provider down) is left out rather than failing."""
        found = {
            "authorization_endpoint": self.settings.authorization_endpoint,
            "token_endpoint": self.settings.token_endpoint,
        }
        if not all(found.values()):
            try:
                doc = await self.metadata()
            except IdentityProviderUnavailable:
                doc = {}
            for name in found:
                found[name] = found[name] or str(doc.get(name) or "")
        return {name: url for name, url in found.items() if url}

    async def _accepted_issuers(self) -> list[str]:
        accepted = list(self.settings.accepted_issuers or (self.settings.issuer,))
        if not self.settings.jwks_url:
            accepted.append(str((await self.metadata())["issuer"]))
        return accepted

    async def _key_set(self, *, refresh: bool) -> KeySet:
        async with self._lock:
            stale = refresh and (time.monotonic() - self._keys_fetched >= self._refetch_interval)
            if self._keys is None or stale:
                url = self.settings.jwks_url or str((await self.metadata()).get("jwks_uri") or "")
                if not url:
                    raise IdentityProviderUnavailable("the provider publishes no jwks_uri")
                doc = await fetch_json(self._client(), url)
                try:
                    self._keys = KeySet.import_key_set(doc)  # type: ignore[arg-type]
                except _JWKS_ERRORS as exc:
                    raise IdentityProviderUnavailable(f"unusable JWKS at {url}: {exc}") from None
                self._keys_fetched = time.monotonic()
            return self._keys

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    # -- the authorization code flow (``terraform login``) ------------------------

    async def redeem_code(self, code: str, *, redirect_uri: str, code_verifier: str) -> str:
        """The ID token the provider gives for an authorization code it sent to
        ``redirect_uri`` (public client, PKCE ``code_verifier``), unverified:
        pass it to ``verify``. ``Unauthenticated`` when the provider refuses
        the code, ``IdentityProviderUnavailable`` when it cannot be reached or
        answers nonsense."""
        url = (await self.endpoints()).get("token_endpoint", "")
        if not url:
            raise IdentityProviderUnavailable("the provider publishes no token_endpoint")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.settings.client_id,
            "code_verifier": code_verifier,
        }
        try:
            async with self._client().post(
                url, data=form, headers={"Accept": "application/json"}
            ) as reply:
                status = reply.status
                doc = await reply.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
            raise IdentityProviderUnavailable(
                f"cannot redeem the code at {url}: {reason or type(exc).__name__}"
            ) from None
        if not isinstance(doc, dict):
            raise IdentityProviderUnavailable(f"{url} did not answer a JSON object")
        if status != 200:
            error = str(doc.get("error") or f"HTTP {status}")
            detail = str(doc.get("error_description") or "")
            raise Unauthenticated(
                f"the identity provider refused the login: {error}"
                + (f" ({detail})" if detail else "")
            )
        id_token = doc.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise IdentityProviderUnavailable(f"{url} answered no id_token (is 'openid' allowed?)")
        return id_token

    # -- IdTokenVerifier -------------------------------------------------------

    async def verify(self, id_token: str, *, now: datetime) -> Mapping[str, object]:
        try:
            header = compact_header(id_token)
        except JOSE_ERRORS:
            raise Unauthenticated("malformed ID token") from None
        alg = header.get("alg")
        if alg not in ID_TOKEN_ALGORITHMS:
            raise Unauthenticated(f"ID token algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        key = _pick(await self._key_set(refresh=False), kid)
        if key is None:
            key = _pick(await self._key_set(refresh=True), kid)
        if key is None:
            raise Unauthenticated("ID token signed by a key the provider does not publish")
        try:
            claims = jwt.decode(id_token, key, algorithms=[str(alg)]).claims
            jwt.JWTClaimsRegistry(
                now=int(now.timestamp()),
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "values": await self._accepted_issuers()},
                aud={"essential": True, "value": self.settings.client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
            ).validate(claims)
        except JOSE_ERRORS as exc:
            raise Unauthenticated(f"ID token rejected: {reason(exc)}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.settings.client_id:
            raise Unauthenticated("ID token was issued to another client (azp)")
        return claims


def _pick(keys: KeySet, kid: object) -> Key | None:
    if kid is None:
        return keys.keys[0] if len(keys.keys) == 1 else None
    return next((k for k in keys.keys if k.kid == kid), None)
