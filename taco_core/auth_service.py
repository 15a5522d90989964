"""The authentication use cases: login, refresh, API tokens, and who is calling.

Front ends call these and nothing else, so the rules (what a credential may
do, rotation and reuse detection, who manages which token) hold the same way
whether the request came over HTTP or from an embedded tool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from attrs import frozen

from taco_core.auth import (
    API_TOKEN_PREFIX,
    BOOTSTRAP_SUBJECT,
    BOOTSTRAP_TOKEN_NAME,
    REFRESH_TOKEN_PREFIX,
    ApiToken,
    IssuedTokens,
    NewApiToken,
    Principal,
    PrincipalKind,
    RefreshToken,
    capped_expiry,
    check_token_name,
    descendants,
    hash_secret,
    looks_like_jwt,
    new_id,
    new_secret,
    principal_from_id_claims,
)
from taco_core.caller import SYSTEM_CALLER, Caller
from taco_core.errors import (
    Forbidden,
    InvalidInput,
    NotConfigured,
    PermissionDenied,
    TokenNotFound,
    Unauthenticated,
)
from taco_core.event_bus import EventBus
from taco_core.events import AccessDenied, TokenCreated, TokenRevoked
from taco_core.ports import AccessTokenCodec, Clock, EventSink, IdTokenVerifier, TokenStore
from taco_core.rbac import GLOBAL_RESOURCE, Action, check_narrowing, check_subject
from taco_core.rbac_service import RbacService

# The longest lifetime an API token may be given: a century is "until
# revoked" in practice, and a longer one would not fit a date.
MAX_API_TOKEN_LIFETIME = timedelta(days=36500)

_REUSED = (
    "refresh token already used: its whole session was revoked in case it was stolen; log in again"
)


@frozen
class AuthPolicy:
    """Token lifetimes. A refresh extends the session by ``refresh_ttl``, so a
    session ends after that long without use."""

    access_ttl: timedelta = timedelta(hours=1)
    refresh_ttl: timedelta = timedelta(days=30)


class AuthService:
    """Use cases over a ``TokenStore``, our ``AccessTokenCodec`` and, when
    OIDC login is configured, the provider's ``IdTokenVerifier``.

    ``rbac`` decides who holds ``token.manage`` (may see, revoke and create
    tokens of any subject) and which roles a token may be narrowed to;
    without it everyone manages only their own tokens, unnarrowed. Token
    creations and revocations are published on ``events``.
    """

    def __init__(
        self,
        tokens: TokenStore,
        codec: AccessTokenCodec,
        clock: Clock,
        *,
        id_tokens: IdTokenVerifier | None = None,
        policy: AuthPolicy | None = None,
        rbac: RbacService | None = None,
        events: EventSink | None = None,
    ) -> None:
        self.tokens = tokens
        self.codec = codec
        self.clock = clock
        self.id_tokens = id_tokens
        self.policy = policy or AuthPolicy()
        self.rbac = rbac
        self.events: EventSink = events or EventBus()

    # -- requests ------------------------------------------------------------

    async def authenticate(self, credential: str) -> Principal:
        """The principal behind an access token or an API token.

        ``Unauthenticated`` for anything else, refresh tokens included: they
        only buy new access tokens, so a leaked one cannot call the API.
        """
        credential = credential.strip()
        now = self.clock.now()
        if credential.startswith(API_TOKEN_PREFIX):
            token = await self.tokens.find_api_token(hash_secret(credential))
            if token is None or not token.is_active(now):
                raise Unauthenticated("API token unknown, revoked or expired")
            return token.principal()
        if credential.startswith(REFRESH_TOKEN_PREFIX):
            raise Unauthenticated(
                "a refresh token does not authenticate requests; "
                "exchange it for an access token at POST /v1/auth/token"
            )
        if looks_like_jwt(credential):
            return await self.codec.verify(credential, now=now)
        raise Unauthenticated("credential not recognised: send an access token or an API token")

    # -- login sessions --------------------------------------------------------

    async def exchange(self, id_token: str, *, nonce: str | None = None) -> IssuedTokens:
        """Trade an ID token from the configured OIDC provider for our tokens.

        ``nonce``, when the client sends the one it put in its authorization
        request, must be the token's: a token captured from another login
        then fails.
        """
        if self.id_tokens is None:
            raise NotConfigured(
                "OIDC login is not configured on this server: set OPENTACO_AUTH_ISSUER and "
                "OPENTACO_AUTH_CLIENT_ID, or use an API token"
            )
        now = self.clock.now()
        claims = await self.id_tokens.verify(id_token, now=now)
        if nonce is not None and claims.get("nonce") != nonce:
            raise Unauthenticated("the ID token's nonce is not the one of this login")
        principal = principal_from_id_claims(claims)
        if not principal.subject:
            raise Unauthenticated("the ID token names no subject ('sub')")
        secret = new_secret(REFRESH_TOKEN_PREFIX)
        first = self._refresh_record(principal, secret, family=new_id(), now=now)
        await self.tokens.add_refresh_token(first)
        return await self._issue(principal, secret, now)

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        """New access and refresh tokens for a refresh token, which is used up.

        A refresh token presented a second time revokes its whole family: one
        of the two holders is not who they claim to be.
        """
        now = self.clock.now()
        old = None
        if refresh_token.startswith(REFRESH_TOKEN_PREFIX):
            old = await self.tokens.find_refresh_token(hash_secret(refresh_token))
        if old is None:
            raise Unauthenticated("refresh token unknown; log in again")
        if old.revoked is not None:
            raise Unauthenticated("refresh token revoked; log in again")
        if old.used is not None:
            await self.tokens.revoke_refresh_family(old.family, now)
            raise Unauthenticated(_REUSED)
        if now >= old.expires:
            raise Unauthenticated("refresh token expired; log in again")
        principal = old.principal()
        secret = new_secret(REFRESH_TOKEN_PREFIX)
        successor = self._refresh_record(principal, secret, family=old.family, now=now)
        if not await self.tokens.rotate_refresh_token(old.id, successor, now):
            await self.tokens.revoke_refresh_family(old.family, now)
            raise Unauthenticated(_REUSED)
        return await self._issue(principal, secret, now)

    async def logout(self, refresh_token: str) -> bool:
        """End the login session a refresh token belongs to. False when the
        token is unknown (nothing to do; callers need not care)."""
        if not refresh_token.startswith(REFRESH_TOKEN_PREFIX):
            return False
        found = await self.tokens.find_refresh_token(hash_secret(refresh_token))
        if found is None:
            return False
        await self.tokens.revoke_refresh_family(found.family, self.clock.now())
        return True

    def _refresh_record(
        self, principal: Principal, secret: str, *, family: str, now: datetime
    ) -> RefreshToken:
        return RefreshToken(
            id=new_id(),
            family=family,
            secret_hash=hash_secret(secret),
            subject=principal.subject,
            email=principal.email,
            groups=principal.groups,
            created=now,
            expires=now + self.policy.refresh_ttl,
        )

    async def _issue(self, principal: Principal, refresh: str, now: datetime) -> IssuedTokens:
        access = await self.codec.issue(principal, now=now, ttl=self.policy.access_ttl)
        return IssuedTokens(
            access_token=access,
            expires_in=int(self.policy.access_ttl.total_seconds()),
            refresh_token=refresh,
            refresh_expires_in=int(self.policy.refresh_ttl.total_seconds()),
        )

    # -- API tokens ------------------------------------------------------------

    async def create_api_token(
        self,
        caller: Caller,
        name: str,
        *,
        expires_in: timedelta | None = None,
        subject: str | None = None,
        roles: Sequence[str] | None = None,
    ) -> NewApiToken:
        """A new API token; its secret is returned once.

        Without ``subject`` (or with the caller's own) it acts as the caller:
        same subject, email and groups, and, when the caller is itself a
        narrowed token, at most the same roles. With another ``subject`` (a
        service subject such as ``ci-dev``) the caller needs ``token.manage``
        (``PermissionDenied`` otherwise) and the token carries that subject
        alone: no email, no groups, roles from the subject's assignments.
        ``roles`` narrows the token to these roles, each of which the subject
        must hold now (``InvalidInput`` naming the others).

        Asked for with an API token, the new one is that token's child: it
        expires no later than its parent, and goes when its parent is revoked.
        """
        principal = caller.principal
        if principal.kind is PrincipalKind.ANONYMOUS:
            raise Forbidden(
                "API tokens act as their creator, and this caller is anonymous "
                "(authentication is disabled on this server)"
            )
        problem = check_token_name(name)
        if problem:
            raise InvalidInput(problem)
        if expires_in is not None and expires_in <= timedelta(0):
            raise InvalidInput("an API token's lifetime must be positive")
        if expires_in is not None and expires_in > MAX_API_TOKEN_LIFETIME:
            raise InvalidInput(
                f"an API token's lifetime is at most {MAX_API_TOKEN_LIFETIME.days}d; "
                "leave expires_in out for a token that lives until revoked"
            )
        target = principal.subject if subject is None else check_subject(subject.strip())
        for_self = target == principal.subject
        if not for_self:
            await self._authorize(caller, Action.TOKEN_MANAGE)
        narrowed = await self._narrowing(principal, target, for_self, roles)
        now = self.clock.now()
        parent = None
        if principal.kind is PrincipalKind.API_TOKEN:
            parent = await self._active_token(principal.token_id, now)
        secret = new_secret(API_TOKEN_PREFIX)
        token = ApiToken(
            id=new_id(),
            name=name.strip(),
            secret_hash=hash_secret(secret),
            subject=target,
            email=principal.email if for_self else "",
            groups=principal.groups if for_self else (),
            created=now,
            created_by=_describe(principal),
            expires=capped_expiry(now + expires_in if expires_in is not None else None, parent),
            parent=parent.id if parent is not None else "",
            roles=narrowed,
        )
        await self.tokens.add_api_token(token)
        if parent is not None and await self._active_token(parent.id, now, quiet=True) is None:
            # The parent was revoked while the child was being stored, after
            # the cascade looked for children: take the child back.
            await self.tokens.revoke_api_token(token.id, now)
            raise Unauthenticated("the API token making this request was revoked meanwhile")
        await self.events.publish(TokenCreated(caller=caller, at=now, token=token))
        return NewApiToken(token, secret)

    async def _active_token(
        self, token_id: str, now: datetime, *, quiet: bool = False
    ) -> ApiToken | None:
        """The stored token ``token_id`` while it is active; ``Unauthenticated``
        (``None`` when ``quiet``) once it is not."""
        token = await self.tokens.get_api_token(token_id)
        if token is not None and token.is_active(now):
            return token
        if quiet:
            return None
        raise Unauthenticated("API token unknown, revoked or expired")

    async def _narrowing(
        self,
        principal: Principal,
        subject: str,
        for_self: bool,
        roles: Sequence[str] | None,
    ) -> tuple[str, ...] | None:
        """The roles a new token is narrowed to (``None``: all its subject's)."""
        if roles is None:
            # A narrowed token never mints a token wider than itself.
            return principal.narrowed_to if for_self else None
        if not roles:
            raise InvalidInput("a token's roles must name at least one role, or be left out")
        if self.rbac is None or not self.rbac.enabled:
            raise NotConfigured(
                "a token can be narrowed to roles only where authorization (RBAC) is on"
            )
        who = principal if for_self else Principal(subject=subject, kind=PrincipalKind.API_TOKEN)
        return check_narrowing(roles, await self.rbac.roles_of(who), subject)

    async def list_api_tokens(self, caller: Caller) -> Sequence[ApiToken]:
        """The tokens the caller may manage: every one with ``token.manage``,
        else those of its own subject."""
        everyone = await self._manages_all(caller.principal)
        return [
            t
            for t in await self.tokens.list_api_tokens()
            if everyone or t.subject == caller.principal.subject
        ]

    async def revoke_api_token(self, caller: Caller, token_id: str) -> ApiToken:
        """Revoke a token at once (idempotent), and every token it created,
        down the line: what a leaked token made must not outlive it. A token of
        another subject, without ``token.manage``, is ``TokenNotFound``, so IDs
        do not reveal which tokens exist."""
        token = await self.tokens.get_api_token(token_id)
        if token is None or not (
            token.subject == caller.principal.subject or await self._manages_all(caller.principal)
        ):
            raise TokenNotFound(token_id)
        now = self.clock.now()
        revoked = await self.tokens.revoke_api_token(token_id, now)
        if revoked is None:
            raise TokenNotFound(token_id)
        cascaded: list[ApiToken] = []
        for child in descendants(token_id, await self.tokens.list_api_tokens()):
            if child.revoked is None:
                gone = await self.tokens.revoke_api_token(child.id, now)
                if gone is not None:
                    cascaded.append(gone)
        await self.events.publish(TokenRevoked(caller=caller, at=now, token=revoked))
        for gone in cascaded:
            # Each is revoked in its own right: the audit trail names every one.
            await self.events.publish(
                TokenRevoked(caller=caller, at=now, token=gone, cascaded_from=token_id)
            )
        return revoked

    async def bootstrap_admin_token(self) -> NewApiToken | None:
        """On a fresh install, the one admin token that makes it usable.

        Created only if no API token was ever stored, decided atomically by
        the store, so it happens once per installation even when several
        replicas start together. It acts as ``BOOTSTRAP_SUBJECT``, which a
        fresh RBAC policy makes an admin. ``None`` when there is nothing to do.
        """
        now = self.clock.now()
        secret = new_secret(API_TOKEN_PREFIX)
        token = ApiToken(
            id=new_id(),
            name=BOOTSTRAP_TOKEN_NAME,
            secret_hash=hash_secret(secret),
            subject=BOOTSTRAP_SUBJECT,
            created=now,
            created_by="opentacosvc first start",
        )
        if await self.tokens.add_first_api_token(token):
            await self.events.publish(TokenCreated(caller=SYSTEM_CALLER, at=now, token=token))
            return NewApiToken(token, secret)
        return None

    async def _manages_all(self, principal: Principal) -> bool:
        if self.rbac is None:
            return False
        decision = await self.rbac.decide(principal, Action.TOKEN_MANAGE, GLOBAL_RESOURCE)
        return decision.allowed

    async def _authorize(self, caller: Caller, action: Action) -> None:
        if self.rbac is None:
            raise PermissionDenied(action, GLOBAL_RESOURCE, "authorization is not configured")
        try:
            await self.rbac.check(caller.principal, action, GLOBAL_RESOURCE)
        except PermissionDenied as exc:
            await self.events.publish(
                AccessDenied(
                    caller=caller,
                    at=self.clock.now(),
                    action=action,
                    resource=GLOBAL_RESOURCE,
                    reason=exc.reason,
                )
            )
            raise

    async def public_keys(self) -> Mapping[str, object]:
        """The JWKS document that verifies our access tokens (public)."""
        return await self.codec.public_keys()

    async def purge_expired(self) -> int:
        """Forget refresh tokens that can never be accepted again."""
        return await self.tokens.purge_refresh_tokens(self.clock.now())


def _describe(principal: Principal) -> str:
    if principal.kind is PrincipalKind.API_TOKEN:
        return f"{principal.subject} (API token {principal.token_id})"
    return principal.subject
