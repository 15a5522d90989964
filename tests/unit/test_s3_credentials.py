"""Short-lived S3 credentials: issued to a principal, resolved on every S3 request,
bound to their session token, expiring, and revoked with the API token behind them."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import attrs
import pytest

from taco_adapters.clock import ManualClock
from taco_adapters.identity import JoseAccessTokens
from taco_adapters.memory import MemoryAuthStore
from taco_core.auth import ANONYMOUS, Principal, PrincipalKind
from taco_core.auth_service import AuthService
from taco_core.caller import SYSTEM, Caller
from taco_core.errors import (
    CredentialExpired,
    CredentialRevoked,
    Forbidden,
    Unauthenticated,
)
from taco_core.model import Surface
from taco_core.s3_credentials import (
    ACCESS_KEY_PREFIX,
    S3CredentialService,
    access_key_id_for,
)

ALICE = Principal(
    subject="alice", kind=PrincipalKind.USER, email="alice@example.test", groups=("ops",)
)
HOUR = timedelta(hours=1)


@pytest.fixture
def creds(
    store: MemoryAuthStore, codec: JoseAccessTokens, clock: ManualClock
) -> S3CredentialService:
    return S3CredentialService(codec, store, store, clock, ttl=HOUR)


def claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    claims: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return claims


async def test_issued_credentials_resolve_to_the_same_principal_and_secret(
    creds: S3CredentialService, clock: ManualClock
) -> None:
    """What issue hands out, resolve recognises: same secret, same principal, same expiry."""
    issued = await creds.issue(ALICE)
    assert issued.access_key_id.startswith(ACCESS_KEY_PREFIX)
    assert len(issued.access_key_id) == 20
    assert issued.access_key_id == access_key_id_for(issued.session_token)
    assert issued.expires == clock.now() + HOUR
    resolved = await creds.resolve(issued.access_key_id, issued.session_token)
    assert resolved.secret_access_key == issued.secret_access_key
    assert resolved.principal == ALICE
    assert resolved.expires == issued.expires


async def test_session_token_is_for_s3_only(
    creds: S3CredentialService, codec: JoseAccessTokens, clock: ManualClock
) -> None:
    """A session token has audience s3: it does not authenticate API requests, and an API
    access token is no session token."""
    issued = await creds.issue(ALICE)
    assert claims(issued.session_token)["aud"] == "s3"
    with pytest.raises(Unauthenticated):
        await codec.verify(issued.session_token, now=clock.now())
    access = await codec.issue(ALICE, now=clock.now(), ttl=HOUR)
    with pytest.raises(Unauthenticated):
        await creds.resolve(access_key_id_for(access), access)


async def test_a_key_belongs_to_one_token(creds: S3CredentialService) -> None:
    """Another key with a genuine token, or a token with a byte changed, is refused."""
    first, second = await creds.issue(ALICE), await creds.issue(ALICE)
    assert first.access_key_id != second.access_key_id
    assert first.secret_access_key != second.secret_access_key
    with pytest.raises(Unauthenticated):
        await creds.resolve(first.access_key_id, second.session_token)
    forged = first.session_token[:-3] + ("AAA" if first.session_token[-3:] != "AAA" else "BBB")
    with pytest.raises(Unauthenticated):
        await creds.resolve(access_key_id_for(forged), forged)


async def test_credentials_expire(creds: S3CredentialService, clock: ManualClock) -> None:
    """After the TTL (and the clock leeway) resolving says the credentials expired."""
    issued = await creds.issue(ALICE)
    clock.advance(HOUR.total_seconds() + 31)
    with pytest.raises(CredentialExpired):
        await creds.resolve(issued.access_key_id, issued.session_token)


async def test_ttl_is_capped_by_the_presenting_credential(
    creds: S3CredentialService, clock: ManualClock
) -> None:
    """Credentials never outlive the token that asked for them; an expired one gets none."""
    soon = attrs.evolve(ALICE, expires=clock.now() + timedelta(minutes=10, microseconds=500))
    issued = await creds.issue(soon)
    assert issued.expires == clock.now() + timedelta(minutes=10)
    assert claims(issued.session_token)["exp"] == int(issued.expires.timestamp())
    with pytest.raises(CredentialExpired):
        await creds.issue(attrs.evolve(ALICE, expires=clock.now()))


async def test_api_token_principal_travels_whole_and_dies_with_its_token(
    store: MemoryAuthStore, codec: JoseAccessTokens, clock: ManualClock
) -> None:
    """Credentials issued to an API token act as it (kind, token ID, narrowed roles) and
    are refused from the moment that token is revoked."""
    auth = AuthService(store, codec, clock)
    creds = S3CredentialService(codec, store, store, clock, ttl=HOUR)
    created = await auth.create_api_token(Caller(ALICE, Surface.API), "ci")
    principal = attrs.evolve(await auth.authenticate(created.secret), narrowed_to=("reader",))
    issued = await creds.issue(principal)
    resolved = await creds.resolve(issued.access_key_id, issued.session_token)
    assert resolved.principal == principal
    assert resolved.principal is not None
    assert resolved.principal.owner_key == f"token:{created.token.id}"
    assert resolved.principal.narrowed_to == ("reader",)
    await auth.revoke_api_token(Caller(ALICE, Surface.API), created.token.id)
    with pytest.raises(CredentialRevoked):
        await creds.resolve(issued.access_key_id, issued.session_token)


async def test_credentials_of_a_child_token_die_when_its_parent_is_revoked(
    store: MemoryAuthStore, codec: JoseAccessTokens, clock: ManualClock
) -> None:
    """Credentials issued to a token that another token created are refused once the
    parent is revoked (the revocation cascades to the child)."""
    auth = AuthService(store, codec, clock)
    creds = S3CredentialService(codec, store, store, clock, ttl=HOUR)
    parent = await auth.create_api_token(Caller(ALICE, Surface.API), "ci")
    as_parent = Caller(await auth.authenticate(parent.secret), Surface.API)
    child = await auth.create_api_token(as_parent, "job")
    issued = await creds.issue(await auth.authenticate(child.secret))
    assert (await creds.resolve(issued.access_key_id, issued.session_token)).principal
    await auth.revoke_api_token(Caller(ALICE, Surface.API), parent.token.id)
    with pytest.raises(CredentialRevoked):
        await creds.resolve(issued.access_key_id, issued.session_token)


async def test_anonymous_gets_credentials_only_while_auth_is_off(
    store: MemoryAuthStore, codec: JoseAccessTokens, clock: ManualClock
) -> None:
    """With auth off the anonymous caller gets working credentials; once auth is on,
    neither new ones nor those are accepted. The service's own principal gets none."""
    off = S3CredentialService(codec, store, store, clock, allow_anonymous=True)
    on = S3CredentialService(codec, store, store, clock)
    issued = await off.issue(ANONYMOUS)
    assert (await off.resolve(issued.access_key_id, issued.session_token)).principal == ANONYMOUS
    with pytest.raises(Unauthenticated):
        await on.resolve(issued.access_key_id, issued.session_token)
    with pytest.raises(Unauthenticated):
        await on.issue(ANONYMOUS)
    with pytest.raises(Forbidden):
        await on.issue(SYSTEM)


async def test_replicas_sharing_the_store_derive_the_same_secret(
    store: MemoryAuthStore, codec: JoseAccessTokens, clock: ManualClock
) -> None:
    """Another service over the same store (another replica) resolves the credentials:
    nothing but the installation secret is needed."""
    issued = await S3CredentialService(codec, store, store, clock).issue(ALICE)
    replica = S3CredentialService(codec, store, store, clock)
    resolved = await replica.resolve(issued.access_key_id, issued.session_token)
    assert resolved.secret_access_key == issued.secret_access_key
    elsewhere = MemoryAuthStore()
    other = S3CredentialService(codec, store, elsewhere, clock)
    foreign = await other.resolve(issued.access_key_id, issued.session_token)
    assert foreign.secret_access_key != issued.secret_access_key
