"""Short-lived S3 credentials: what ``taco creds`` hands to Terraform's ``s3`` backend.

The S3 endpoint authenticates by signature (SigV4), so a client needs an
access key ID and a secret, not a bearer token. They are derived, never
stored, so replicas that share nothing but the storage all accept them:

- ``SessionToken`` is a token our ``AccessTokenCodec`` signs for the audience
  ``s3`` (it cannot pass for an API access token, nor one for it). It
  carries the whole principal (subject, kind, groups, API token ID, narrowed
  roles) and expires with the credentials.
- ``AccessKeyId`` is derived from the session token (a digest of it), so a
  key belongs to exactly one token.
- ``SecretAccessKey`` is an HMAC of both under the installation secret
  ``s3-credentials`` (``SecretStore``), which only the service knows.

Resolving a key therefore needs no lookup except one: credentials issued to
an API token die with it, so the token must still be active. They live
``ttl`` (``OPENTACO_S3_CREDS_TTL``), never longer than the credential that
asked for them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from attrs import field, frozen

from taco_core.auth import Principal, PrincipalKind
from taco_core.errors import CredentialExpired, CredentialRevoked, Forbidden, Unauthenticated
from taco_core.ports import AccessTokenCodec, Clock, SecretStore, TokenStore

__all__ = [
    "ACCESS_KEY_PREFIX",
    "S3_AUDIENCE",
    "S3CredentialService",
    "S3Credentials",
    "access_key_id_for",
]

# The audience of session tokens; the codec refuses them anywhere else.
S3_AUDIENCE = "s3"
# Like AWS's ``ASIA`` for temporary keys: tells at a glance whose key it is.
ACCESS_KEY_PREFIX = "OTAK"
SECRET_NAME = "s3-credentials"
_KEY_LENGTH = 20


@frozen
class S3Credentials:
    """A set of S3 credentials and the principal they act as (``None`` where
    only the credentials are known: a client that received them)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expires: datetime
    principal: Principal | None = None


def access_key_id_for(session_token: str) -> str:
    """The access key ID that belongs to ``session_token``: 20 characters,
    upper-case letters and digits, as AWS's are."""
    digest = hashlib.sha256(session_token.encode()).digest()
    encoded = base64.b32encode(digest).decode().rstrip("=")
    return (ACCESS_KEY_PREFIX + encoded)[:_KEY_LENGTH]


class S3CredentialService:
    """Issues S3 credentials to principals and resolves them on every S3 request.

    ``allow_anonymous`` is for a server with authentication turned off: its
    anonymous callers get credentials too. With authentication on,
    credentials asserting the anonymous principal (minted while it was off)
    are refused.
    """

    def __init__(
        self,
        codec: AccessTokenCodec,
        tokens: TokenStore,
        secrets_: SecretStore,
        clock: Clock,
        *,
        ttl: timedelta = timedelta(hours=1),
        allow_anonymous: bool = False,
    ) -> None:
        self.codec = codec
        self.tokens = tokens
        self.secrets = secrets_
        self.clock = clock
        self.ttl = ttl
        self.allow_anonymous = allow_anonymous
        self._key: bytes | None = None

    async def issue(self, principal: Principal) -> S3Credentials:
        """Credentials acting as ``principal`` for ``ttl``, or less when the
        credential ``principal`` presented expires sooner."""
        if principal.kind is PrincipalKind.SYSTEM:
            raise Forbidden("the service's own principal gets no S3 credentials")
        if principal.kind is PrincipalKind.ANONYMOUS and not self.allow_anonymous:
            raise Unauthenticated("S3 credentials need an authenticated caller")
        now = self.clock.now()
        expires = now + self.ttl
        if principal.expires is not None:
            expires = min(expires, principal.expires)
        # Whole seconds: the token's ``exp`` and the credential_process
        # ``Expiration`` must name the same instant.
        lifetime = timedelta(seconds=int((expires - now).total_seconds()))
        if lifetime <= timedelta(0):
            raise CredentialExpired("the credential asking for S3 credentials has expired")
        token = await self.codec.issue(principal, now=now, ttl=lifetime, audience=S3_AUDIENCE)
        key_id = access_key_id_for(token)
        return S3Credentials(
            access_key_id=key_id,
            secret_access_key=await self._secret_for(key_id, token),
            session_token=token,
            expires=now.replace(microsecond=0) + lifetime,
            principal=principal,
        )

    async def resolve(self, access_key_id: str, session_token: str) -> S3Credentials:
        """The credentials ``access_key_id`` and ``session_token`` are, with the
        secret a request must be signed with.

        ``CredentialExpired`` once they have expired; ``CredentialRevoked``
        when the API token they were issued for was revoked or has expired;
        ``Unauthenticated`` for anything else (a forged or foreign token, a
        key that is not the token's). Reads one API token at most.
        """
        if not hmac.compare_digest(access_key_id, access_key_id_for(session_token)):
            raise Unauthenticated("the access key ID does not belong to this session token")
        now = self.clock.now()
        principal = await self.codec.verify(session_token, now=now, audience=S3_AUDIENCE)
        if principal.kind is PrincipalKind.ANONYMOUS and not self.allow_anonymous:
            raise Unauthenticated(
                "these S3 credentials were issued while authentication was off; "
                "get new ones with taco creds"
            )
        if principal.token_id:
            token = await self.tokens.get_api_token(principal.token_id)
            if token is None or not token.is_active(now):
                raise CredentialRevoked(
                    f"the API token {principal.token_id} these S3 credentials were issued "
                    "for is revoked or expired"
                )
        assert principal.expires is not None, "the codec sets a verified token's expiry"
        return S3Credentials(
            access_key_id=access_key_id,
            secret_access_key=await self._secret_for(access_key_id, session_token),
            session_token=session_token,
            expires=principal.expires,
            principal=principal,
        )

    async def _secret_for(self, access_key_id: str, session_token: str) -> str:
        if self._key is None:
            # The same bytes on every replica, created once; never changed, so cached.
            self._key = await self.secrets.secret(SECRET_NAME, secrets.token_bytes(32))
        message = f"{access_key_id}\n{session_token}".encode()
        mac = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
