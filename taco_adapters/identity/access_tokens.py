"""Our access tokens: JWTs signed with ES256 (joserfc), the ``AccessTokenCodec``.

Why these choices:

- **ES256 only**, pinned on the way in. ``alg: none``, HMAC algorithms (the
  classic confusion attack signs with the *public* key as an HMAC secret) and
  anything else are refused before a signature is looked at. ES256 rather
  than EdDSA because every JWT library verifies it, and joserfc flags the
  ``EdDSA`` identifier as deprecated (RFC 9864).
- **``typ: at+jwt``** (RFC 9068) in the header, required on the way in, so no
  other kind of JWT signed by a key we trust passes as an access token.
- **``aud``** says what a token is for: ``opentaco`` (the API) unless the
  caller names another, as the S3 credentials do for their session tokens
  (``s3``), and each is accepted only where it was meant for. Principals
  other than a login's user (an API token's, for S3 session tokens) travel
  whole in the extra claims ``kind``, ``tid`` and ``roles``.
- **``kid``** names the key, so rotation is seamless: a new key signs, retired
  keys keep verifying and stay in the JWKS until their last token expires.
- Keys live in a ``SigningKeyStore`` shared by every replica: generated on
  first start, rotated by ``maintain``. A token with a ``kid`` this process
  does not know makes it re-read the store (another replica may have
  rotated), at most every few seconds so forged ``kid`` values cannot turn
  requests into database reads. Alternatively one key is given by the
  operator as a PEM file, and the store is not used.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import ExpiredTokenError
from joserfc.jwk import ECKey

from taco_adapters.identity.jose import JOSE_ERRORS, compact_header, reason
from taco_core.auth import (
    Principal,
    PrincipalKind,
    SigningKey,
    active_key,
    expired_keys,
    needs_rotation,
)
from taco_core.errors import CredentialExpired, Unauthenticated
from taco_core.ports import SigningKeyStore

ALGORITHM = "ES256"
CURVE = "P-256"
TOKEN_TYPE = "at+jwt"
AUDIENCE = "opentaco"

# Clock skew tolerated between replicas (and between a replica and the clock
# that issued a token).
LEEWAY_SECONDS = 30

# Claims beyond the registered ones, for principals that are not a login's user.
_KIND = "kind"
_TOKEN_ID = "tid"
_ROLES = "roles"
_RELOAD_INTERVAL_SECONDS = 5.0


class InvalidKeyFile(ValueError):
    """A configured private key is not an EC P-256 private key in PEM."""


def generate_signing_key(now: datetime) -> SigningKey:
    """A new P-256 key; its ``kid`` is the RFC 7638 thumbprint."""
    key = ECKey.generate_key(CURVE, private=True)
    return SigningKey(
        kid=key.thumbprint(),
        algorithm=ALGORITHM,
        private_pem=key.as_pem(private=True).decode(),
        created=now,
    )


def signing_key_from_pem(pem: bytes, *, kid: str, now: datetime) -> SigningKey:
    """The operator's key file as a ``SigningKey`` (``kid`` defaults to its thumbprint)."""
    try:
        key = ECKey.import_key(pem)
    except JOSE_ERRORS as exc:
        raise InvalidKeyFile(f"not an EC private key in PEM: {exc}") from None
    if key.curve_name != CURVE or not key.is_private:
        raise InvalidKeyFile(
            f"need an EC {CURVE} private key (openssl ecparam -name prime256v1 -genkey -noout)"
        )
    return SigningKey(
        kid=kid or key.thumbprint(),
        algorithm=ALGORITHM,
        private_pem=key.as_pem(private=True).decode(),
        created=now,
    )


class JoseAccessTokens:
    """``AccessTokenCodec`` over ES256 keys from a store or from configuration."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str = AUDIENCE,
        store: SigningKeyStore | None = None,
        configured: SigningKey | None = None,
        rotate_after: timedelta | None = None,
        keep_for: timedelta = timedelta(hours=1),
        reload_interval: float = _RELOAD_INTERVAL_SECONDS,
    ) -> None:
        if (store is None) == (configured is None):
            raise ValueError("give exactly one of a key store or a configured key")
        self.issuer = issuer
        self.audience = audience
        self._store = store
        self._rotate_after = rotate_after
        self._keep_for = keep_for + timedelta(seconds=LEEWAY_SECONDS)
        self._signing: SigningKey | None = configured
        self._verifying: dict[str, ECKey] = {}
        self._last_reload = float("-inf")
        self._reload_interval = reload_interval
        if configured is not None:
            self._verifying[configured.kid] = _import(configured)

    @classmethod
    async def open(
        cls,
        store: SigningKeyStore,
        *,
        issuer: str,
        now: datetime,
        audience: str = AUDIENCE,
        rotate_after: timedelta | None = None,
        keep_for: timedelta = timedelta(hours=1),
        reload_interval: float = _RELOAD_INTERVAL_SECONDS,
    ) -> JoseAccessTokens:
        """A codec over ``store``'s keys, creating the first key if there is none."""
        codec = cls(
            issuer=issuer,
            audience=audience,
            store=store,
            rotate_after=rotate_after,
            keep_for=keep_for,
            reload_interval=reload_interval,
        )
        await codec.maintain(now)
        return codec

    @property
    def kid(self) -> str:
        """The ID of the key that signs new tokens."""
        assert self._signing is not None, "open() or a configured key first"
        return self._signing.kid

    async def maintain(self, now: datetime) -> None:
        """Create the first key, rotate an old one, drop keys nothing valid was
        signed with, then re-read the store. Idempotent and safe to run on
        every replica at once (the store decides who rotates)."""
        if self._store is None:
            return
        keys = await self._store.list_signing_keys()
        current = active_key(keys)
        if current is None or needs_rotation(current, now, self._rotate_after):
            await self._store.activate_signing_key(
                generate_signing_key(now), replacing=current.kid if current else None
            )
            keys = await self._store.list_signing_keys()
        doomed = expired_keys(keys, now, self._keep_for)
        if doomed:
            await self._store.delete_signing_keys(doomed)
        await self._reload()

    async def _reload(self) -> None:
        assert self._store is not None
        keys = await self._store.list_signing_keys()
        self._signing = active_key(keys)
        self._verifying = {k.kid: _import(k) for k in keys}
        self._last_reload = time.monotonic()

    # -- AccessTokenCodec ----------------------------------------------------

    async def issue(
        self, principal: Principal, *, now: datetime, ttl: timedelta, audience: str | None = None
    ) -> str:
        signing = self._signing
        assert signing is not None, "open() or a configured key first"
        issued = int(now.timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience or self.audience,
            "sub": principal.subject,
            "iat": issued,
            "nbf": issued,
            "exp": issued + int(ttl.total_seconds()),
            "jti": secrets.token_hex(12),
        }
        if principal.email:
            claims["email"] = principal.email
        if principal.groups:
            claims["groups"] = list(principal.groups)
        # Only what a login's user lacks is written, so access tokens keep
        # their shape; S3 session tokens carry API-token principals whole.
        if principal.kind is not PrincipalKind.USER:
            claims[_KIND] = str(principal.kind)
        if principal.token_id:
            claims[_TOKEN_ID] = principal.token_id
        if principal.narrowed_to is not None:
            claims[_ROLES] = list(principal.narrowed_to)
        header = {"alg": ALGORITHM, "kid": signing.kid, "typ": TOKEN_TYPE}
        return jwt.encode(header, claims, self._verifying[signing.kid], algorithms=[ALGORITHM])

    async def verify(self, token: str, *, now: datetime, audience: str | None = None) -> Principal:
        header = _header_of(token)
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated(f"access token algorithm {header.get('alg')!r} is not accepted")
        if header.get("typ") != TOKEN_TYPE:
            raise Unauthenticated("not an OpenTaco access token (header typ is not at+jwt)")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthenticated("access token names no signing key (kid)")
        key = await self._key_for(kid)
        try:
            claims = jwt.decode(token, key, algorithms=[ALGORITHM]).claims
            jwt.JWTClaimsRegistry(
                now=int(now.timestamp()),
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": audience or self.audience},
                sub={"essential": True},
                exp={"essential": True},
            ).validate(claims)
        except ExpiredTokenError:
            raise CredentialExpired("access token expired") from None
        except JOSE_ERRORS as exc:
            raise Unauthenticated(f"access token rejected: {reason(exc)}") from None
        return _principal_of(claims)

    async def public_keys(self) -> Mapping[str, object]:
        return {
            "keys": [
                {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": ALGORITHM}
                for kid, key in self._verifying.items()
            ]
        }

    async def _key_for(self, kid: str) -> ECKey:
        key = self._verifying.get(kid)
        due = time.monotonic() - self._last_reload >= self._reload_interval
        if key is None and self._store is not None and due:
            await self._reload()
            key = self._verifying.get(kid)
        if key is None:
            raise Unauthenticated("access token signed by an unknown key; log in again")
        return key


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _principal_of(claims: Mapping[str, Any]) -> Principal:
    """The principal a verified token's claims assert (its signature holds, so
    its claims are ours; the service's own kind is never among them)."""
    try:
        kind = PrincipalKind(claims.get(_KIND, PrincipalKind.USER))
    except ValueError:
        kind = PrincipalKind.SYSTEM
    if kind is PrincipalKind.SYSTEM:
        raise Unauthenticated("access token names a kind of caller it cannot assert")
    roles = claims.get(_ROLES)
    exp = claims["exp"]
    return Principal(
        subject=claims["sub"],
        kind=kind,
        email=str(claims.get("email", "")),
        groups=_strings(claims.get("groups", [])),
        token_id=str(claims.get(_TOKEN_ID, "")),
        narrowed_to=_strings(roles) if roles is not None else None,
        expires=datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) else None,
    )


def _import(key: SigningKey) -> ECKey:
    return ECKey.import_key(key.private_pem.encode(), parameters={"kid": key.kid})


def _header_of(token: str) -> dict[str, Any]:
    try:
        return compact_header(token)
    except JOSE_ERRORS as exc:
        raise Unauthenticated(f"malformed access token: {reason(exc)}") from None
