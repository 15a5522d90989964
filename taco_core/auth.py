"""Who is calling, and the records and rules behind our tokens.

Three kinds of credential reach the service, and each is told apart by its
shape alone, before any lookup: an access token is a signed JWT (three dotted
parts), an API token starts with ``otc_``, a refresh token with ``otr_``. Only
the first two authenticate a request; a refresh token is good for one thing,
getting a new access token, so a leaked one cannot be replayed against the API.

Secrets are 32 random bytes. They are stored as their SHA-256 only: with that
much entropy a fast hash cannot be reversed by guessing, and it lets a store
find a token by an indexed equality lookup instead of scanning and comparing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from attrs import field, frozen

API_TOKEN_PREFIX = "otc_"
REFRESH_TOKEN_PREFIX = "otr_"

# The subject of the bootstrap admin token. A fresh install's RBAC policy
# assigns it the ``admin`` role (``taco_core.rbac_policy.initial_policy``).
BOOTSTRAP_SUBJECT = "admin"
BOOTSTRAP_TOKEN_NAME = "bootstrap-admin"

_MAX_NAME = 100


def _tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _optional_tuple(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


class PrincipalKind(StrEnum):
    """How a caller proved who they are."""

    USER = "user"
    API_TOKEN = "api_token"
    ANONYMOUS = "anonymous"
    # The service itself (its own writes to the dependency graph, say);
    # never the result of authenticating a credential.
    SYSTEM = "system"


@frozen
class Principal:
    """The caller of one request, as the use cases see it.

    ``token_id`` names the API token used (empty for users), so an audit trail
    can tell a person from the CI job acting with their token.
    ``narrowed_to``, when set, is the API token's narrowing: the caller acts
    with at most these roles of its subject (``taco_core.rbac.effective_roles``).
    ``expires`` is when the credential presented stops being valid (``None``:
    never, or not known); credentials derived from it (short-lived S3 keys)
    must not outlive it. It says nothing about who the caller is, so equality
    ignores it.
    """

    subject: str
    kind: PrincipalKind
    email: str = ""
    groups: tuple[str, ...] = field(default=(), converter=_tuple)
    token_id: str = ""
    narrowed_to: tuple[str, ...] | None = field(default=None, converter=_optional_tuple)
    expires: datetime | None = field(default=None, eq=False)

    @property
    def owner_key(self) -> str:
        """Who holds a lock this principal acquires (``LockInfo.owner``): the
        API token when one was used (two jobs sharing a token are one
        owner), else the kind and subject."""
        if self.token_id:
            return f"token:{self.token_id}"
        return f"{self.kind}:{self.subject}"

    @property
    def author(self) -> str:
        """What history records as the author of a write ("" when anonymous)."""
        return "" if self.kind is PrincipalKind.ANONYMOUS else self.subject


ANONYMOUS = Principal(subject="anonymous", kind=PrincipalKind.ANONYMOUS)


@frozen
class ApiToken:
    """A long-lived, revocable credential for automation (CI, Terraform).

    Made for oneself, it acts as the principal that created it (``subject``,
    ``email``, ``groups`` are copied at creation), like a personal access
    token. Made by an admin for a service subject (``ci-dev``), it carries
    that subject and no email or groups: its roles come from the subject's
    assignments. ``roles``, when set, narrows it to these roles of its
    subject: it never acts with a role its subject does not hold at the time
    of the request.
    ``parent`` is the API token that created it ("" when a person, or the
    first start, did): a child never outlives its parent, and revoking a
    token revokes the tokens it created.
    """

    id: str
    name: str
    secret_hash: str
    subject: str
    created: datetime
    created_by: str = ""
    email: str = ""
    groups: tuple[str, ...] = field(default=(), converter=_tuple)
    expires: datetime | None = None
    revoked: datetime | None = None
    roles: tuple[str, ...] | None = field(default=None, converter=_optional_tuple)
    parent: str = ""

    def is_active(self, now: datetime) -> bool:
        return self.revoked is None and (self.expires is None or now < self.expires)

    def principal(self) -> Principal:
        return Principal(
            subject=self.subject,
            kind=PrincipalKind.API_TOKEN,
            email=self.email,
            groups=self.groups,
            token_id=self.id,
            narrowed_to=self.roles,
            expires=self.expires,
        )


@frozen
class NewApiToken:
    """A freshly created API token and its secret, which is shown this once."""

    token: ApiToken
    secret: str


@frozen
class RefreshToken:
    """One link of a refresh-token chain (``family``: one login session).

    Each use replaces it with a successor and marks it ``used``. Presenting a
    used one again means two parties hold the chain, one of them a thief, so
    the whole family is revoked (OAuth 2.0 Security BCP, refresh rotation).
    The identity is carried along, so a refresh keeps email and groups.
    """

    id: str
    family: str
    secret_hash: str
    subject: str
    created: datetime
    expires: datetime
    email: str = ""
    groups: tuple[str, ...] = field(default=(), converter=_tuple)
    used: datetime | None = None
    revoked: datetime | None = None

    def principal(self) -> Principal:
        return Principal(
            subject=self.subject, kind=PrincipalKind.USER, email=self.email, groups=self.groups
        )


@frozen
class IssuedTokens:
    """What a login or a refresh hands back to the client."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


@frozen
class SigningKey:
    """A private key that signs our access tokens, as PEM text.

    The active key has ``retired`` unset. A retired key signs nothing more but
    keeps verifying (and stays in the JWKS) until every token it signed has
    expired; then it can be dropped.
    """

    kid: str
    algorithm: str
    private_pem: str
    created: datetime
    retired: datetime | None = None


# -- secrets -------------------------------------------------------------------


def new_secret(prefix: str) -> str:
    """A fresh secret: ``prefix`` and 32 random bytes, URL-safe base64."""
    return prefix + secrets.token_urlsafe(32)


def new_id() -> str:
    """A public identifier for a token record (not a secret)."""
    return secrets.token_hex(8)


def hash_secret(secret: str) -> str:
    """The form in which a secret is stored and looked up."""
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2 and not credential.startswith(
        (API_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX)
    )


# -- rules -------------------------------------------------------------------


def check_token_name(name: str) -> str | None:
    """Why ``name`` is not acceptable for an API token, or ``None``."""
    if not name.strip():
        return "an API token needs a name, e.g. ci or terraform-prod"
    if len(name) > _MAX_NAME:
        return f"an API token name has at most {_MAX_NAME} characters"
    if not name.isprintable():
        return "an API token name must be printable text"
    return None


def capped_expiry(wanted: datetime | None, parent: ApiToken | None) -> datetime | None:
    """When a new token expires: when asked, but never after its parent."""
    if parent is None or parent.expires is None:
        return wanted
    return parent.expires if wanted is None else min(wanted, parent.expires)


def descendants(token_id: str, tokens: Iterable[ApiToken]) -> list[ApiToken]:
    """The tokens ``token_id`` created, the tokens they created, and so on."""
    children: dict[str, list[ApiToken]] = {}
    for token in tokens:
        if token.parent:
            children.setdefault(token.parent, []).append(token)
    found: list[ApiToken] = []
    pending = [token_id]
    seen = {token_id}
    while pending:
        for child in children.get(pending.pop(), []):
            if child.id not in seen:
                seen.add(child.id)
                found.append(child)
                pending.append(child.id)
    return found


def principal_from_id_claims(claims: Mapping[str, object]) -> Principal:
    """The user an ID token describes.

    The email is the ``email`` claim, else ``preferred_username``, else a
    ``sub`` that looks like an address. Groups come from a ``groups`` claim
    holding a list of strings (Okta, Keycloak, Dex, Azure AD with group claims).
    """
    subject = str(claims.get("sub") or "")
    email = ""
    for candidate in (claims.get("email"), claims.get("preferred_username"), subject):
        if isinstance(candidate, str) and "@" in candidate:
            email = candidate
            break
    raw_groups = claims.get("groups")
    groups: tuple[str, ...] = ()
    if isinstance(raw_groups, list):
        groups = tuple(g for g in raw_groups if isinstance(g, str))
    return Principal(subject=subject, kind=PrincipalKind.USER, email=email, groups=groups)


def active_key(keys: Sequence[SigningKey]) -> SigningKey | None:
    """The key that signs new tokens: the newest one not retired."""
    live = [k for k in keys if k.retired is None]
    return max(live, key=lambda k: k.created) if live else None


def needs_rotation(key: SigningKey, now: datetime, rotate_after: timedelta | None) -> bool:
    """Whether ``key`` has signed long enough (``None``: never rotate)."""
    return rotate_after is not None and now - key.created >= rotate_after


def expired_keys(keys: Iterable[SigningKey], now: datetime, keep_for: timedelta) -> list[str]:
    """Retired keys whose tokens have all expired (``keep_for``: the longest
    access-token lifetime, plus clock leeway): nothing they signed can still
    be valid, so they may leave the JWKS."""
    return [k.kid for k in keys if k.retired is not None and now - k.retired >= keep_for]
