"""ID tokens from an OIDC provider: discovery, JWKS caching and refetch, and
every claim check, against a stand-in provider over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc.jwk import RSAKey

from taco_adapters.identity import OidcIdTokenVerifier, provider_settings
from taco_core.errors import IdentityProviderUnavailable, Unauthenticated
from tests.idp import CLIENT_ID, FakeProvider


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def verifier(provider: FakeProvider) -> AsyncIterator[OidcIdTokenVerifier]:
    v = OidcIdTokenVerifier(provider_settings(provider.issuer, CLIENT_ID))
    try:
        yield v
    finally:
        await v.aclose()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_genuine_id_token_gives_its_claims(
    provider: FakeProvider, verifier: OidcIdTokenVerifier
) -> None:
    """A token signed by the provider, for our client, verifies."""
    claims = await verifier.verify(provider.mint(), now=now())
    assert claims["sub"] == "alice" and claims["email"] == "alice@example.test"


async def test_jwks_is_cached(provider: FakeProvider, verifier: OidcIdTokenVerifier) -> None:
    """The provider's keys are fetched once, not per login."""
    for _ in range(3):
        await verifier.verify(provider.mint(), now=now())
    assert provider.jwks_requests == 1


async def test_unknown_kid_refetches_the_jwks(provider: FakeProvider) -> None:
    """After the provider rotates its key, the new kid triggers one refetch."""
    verifier = OidcIdTokenVerifier(
        provider_settings(provider.issuer, CLIENT_ID), refetch_interval=0
    )
    await verifier.verify(provider.mint(), now=now())
    provider.rotate("idp-2")
    claims = await verifier.verify(provider.mint(), now=now())
    await verifier.aclose()
    assert claims["sub"] == "alice"
    assert provider.jwks_requests == 2


async def test_refetch_is_rate_limited(
    provider: FakeProvider, verifier: OidcIdTokenVerifier
) -> None:
    """Made-up kids do not turn each request into a request to the provider."""
    await verifier.verify(provider.mint(), now=now())
    stranger = RSAKey.generate_key(2048, parameters={"kid": "made-up"})
    for _ in range(3):
        with pytest.raises(Unauthenticated, match="does not publish"):
            await verifier.verify(provider.mint(key=stranger), now=now())
    assert provider.jwks_requests == 1


# Times are offsets from the moment the test runs (a long suite may reach
# this test minutes after collection).
@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "another-client"}, "aud"),
        ({"aud": ["another-client"]}, "aud"),
        ({"iss": "https://evil.example"}, "iss"),
        # Times as offsets from when the test runs, not from collection: a long
        # suite may run this more than ten minutes after collecting it.
        ({"exp": -120}, "expired"),
        ({"iat": 600}, "future"),
        ({"nbf": 600}, "not yet valid"),
        ({"sub": None}, "sub"),
        ({"iat": None}, "iat"),
        ({"exp": None}, "exp"),
    ],
)
async def test_bad_claims_are_refused(
    provider: FakeProvider,
    verifier: OidcIdTokenVerifier,
    overrides: dict[str, Any],
    reason: str,
) -> None:
    """Wrong audience or issuer, expired, from the future, or missing claims: refused."""
    # Time claims are given as seconds from now, resolved here rather than at
    # collection: a long test run would otherwise carry "+600 s" into the past.
    claims: dict[str, Any] = {
        k: int(time.time()) + v if k in ("exp", "iat", "nbf") and isinstance(v, int) else v
        for k, v in overrides.items()
    }
    with pytest.raises(Unauthenticated, match=reason):
        await verifier.verify(provider.mint(**claims), now=now())


async def test_multiple_audiences_need_our_azp(
    provider: FakeProvider, verifier: OidcIdTokenVerifier
) -> None:
    """A token for several audiences counts only if it was issued to us (azp)."""
    both = [CLIENT_ID, "other"]
    with pytest.raises(Unauthenticated, match="azp"):
        await verifier.verify(provider.mint(aud=both), now=now())
    assert await verifier.verify(provider.mint(aud=both, azp=CLIENT_ID), now=now())


async def test_tampered_token_is_refused(
    provider: FakeProvider, verifier: OidcIdTokenVerifier
) -> None:
    """Changing the subject breaks the provider's signature."""
    header, payload, signature = provider.mint().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "admin"
    forged = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    with pytest.raises(Unauthenticated, match="signature"):
        await verifier.verify(forged, now=now())


async def test_alg_none_and_hmac_are_refused(
    provider: FakeProvider, verifier: OidcIdTokenVerifier
) -> None:
    """Unsigned and HMAC tokens (even keyed with the provider's public key) fail."""
    claims = b64(json.dumps(provider.claims()).encode())
    unsigned = b64(json.dumps({"alg": "none", "kid": "idp-1"}).encode())
    with pytest.raises(Unauthenticated, match="algorithm"):
        await verifier.verify(f"{unsigned}.{claims}.", now=now())
    header = b64(json.dumps({"alg": "HS256", "kid": "idp-1"}).encode())
    secret = provider.keys[0].as_pem(private=False)
    mac = hmac.new(secret, f"{header}.{claims}".encode(), hashlib.sha256).digest()
    with pytest.raises(Unauthenticated, match="algorithm"):
        await verifier.verify(f"{header}.{claims}.{b64(mac)}", now=now())


async def test_provider_down_is_reported_as_such(
    provider: FakeProvider, verifier: OidcIdTokenVerifier
) -> None:
    """An unreachable provider is IdentityProviderUnavailable, not a bad token."""
    provider.down = True
    with pytest.raises(IdentityProviderUnavailable):
        await verifier.verify(provider.mint(), now=now())
    assert await verifier.endpoints() == {}


async def test_discovery_must_name_the_configured_issuer(provider: FakeProvider) -> None:
    """A discovery document for another issuer is not trusted."""
    other = f"{provider.issuer}/"
    verifier = OidcIdTokenVerifier(provider_settings(other, CLIENT_ID))
    try:
        assert (await verifier.metadata())["issuer"] == provider.issuer
    finally:
        await verifier.aclose()
    mismatched = OidcIdTokenVerifier(provider_settings(provider.issuer + "/x", CLIENT_ID))
    try:
        with pytest.raises(IdentityProviderUnavailable):
            await mismatched.verify(provider.mint(), now=now())
    finally:
        await mismatched.aclose()


async def test_endpoints_come_from_discovery_unless_configured(provider: FakeProvider) -> None:
    """The login client's endpoints: configured ones win over discovered ones."""
    verifier = OidcIdTokenVerifier(
        provider_settings(provider.issuer, CLIENT_ID, auth_url="https://login.example/authorize")
    )
    try:
        assert await verifier.endpoints() == {
            "authorization_endpoint": "https://login.example/authorize",
            "token_endpoint": f"{provider.issuer}/token",
        }
    finally:
        await verifier.aclose()


def test_workos_defaults() -> None:
    """The WorkOS issuer of the reference gets WorkOS's endpoints and key URL."""
    s = provider_settings("https://api.workos.com/user_management", "client_123")
    assert s.jwks_url == "https://api.workos.com/sso/jwks/client_123"
    assert s.authorization_endpoint == "https://api.workos.com/user_management/authorize"
    assert "https://api.workos.com/user_management/client_123" in s.accepted_issuers


# -- redeeming an authorization code (the web UI's and terraform login's) ------------------


def challenge(verifier: str) -> str:
    return b64(hashlib.sha256(verifier.encode()).digest())


async def test_redeem_code_sends_the_pkce_verifier_and_returns_the_id_token(
    provider: FakeProvider, verifier: OidcIdTokenVerifier
) -> None:
    """The token request is a public client's: code, redirect URI, client ID
    and PKCE verifier, no secret; the answer's ID token verifies."""
    provider.grant("the-code", challenge("v" * 43), nonce="n-1")
    found = await verifier.redeem_code(
        "the-code", redirect_uri="http://x/cb", code_verifier="v" * 43
    )
    assert (await verifier.verify(found, now=now()))["nonce"] == "n-1"
    assert provider.redeemed == [
        {
            "grant_type": "authorization_code",
            "code": "the-code",
            "redirect_uri": "http://x/cb",
            "client_id": CLIENT_ID,
            "code_verifier": "v" * 43,
        }
    ]


async def test_redeem_code_refuses_an_unknown_code_or_another_verifier(
    provider: FakeProvider, verifier: OidcIdTokenVerifier
) -> None:
    """A code the provider does not know, or redeemed with another PKCE
    verifier, is Unauthenticated with the provider's reason."""
    with pytest.raises(Unauthenticated, match="invalid_grant"):
        await verifier.redeem_code("nope", redirect_uri="http://x/cb", code_verifier="v")
    provider.grant("c", challenge("right"))
    with pytest.raises(Unauthenticated, match="PKCE mismatch"):
        await verifier.redeem_code("c", redirect_uri="http://x/cb", code_verifier="wrong")


async def test_redeem_code_with_the_provider_gone(provider: FakeProvider) -> None:
    """An unreachable token endpoint is IdentityProviderUnavailable naming it."""
    settings = provider_settings(
        provider.issuer, CLIENT_ID, token_url="http://127.0.0.1:9/token", auth_url="http://a"
    )
    verifier = OidcIdTokenVerifier(settings, timeout=2)
    try:
        with pytest.raises(IdentityProviderUnavailable, match=re.escape("127.0.0.1:9/token")):
            await verifier.redeem_code("c", redirect_uri="http://x/cb", code_verifier="v")
    finally:
        await verifier.aclose()
