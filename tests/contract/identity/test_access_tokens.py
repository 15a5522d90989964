"""Our access tokens (ES256 JWTs): every forgery and misuse is refused, and key
rotation keeps valid tokens working."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey

from taco_adapters.clock import ManualClock
from taco_adapters.identity.access_tokens import (
    InvalidKeyFile,
    JoseAccessTokens,
    generate_signing_key,
    signing_key_from_pem,
)
from taco_adapters.memory import MemoryAuthStore
from taco_adapters.sqlite import SqliteAuthStore
from taco_core.auth import Principal, PrincipalKind
from taco_core.errors import CredentialExpired, Unauthenticated
from tests.auth_fixtures import ISSUER

ALICE = Principal(
    subject="alice", kind=PrincipalKind.USER, email="alice@example.test", groups=("ops",)
)
HOUR = timedelta(hours=1)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(doc: dict[str, Any]) -> str:
    return b64(json.dumps(doc).encode())


async def signing_key(store: MemoryAuthStore) -> ECKey:
    (key,) = await store.list_signing_keys()
    return ECKey.import_key(key.private_pem.encode(), parameters={"kid": key.kid})


async def forge(store: MemoryAuthStore, clock: ManualClock, **overrides: Any) -> str:
    """A token signed with our real key whose claims or header differ."""
    key = await signing_key(store)
    now = int(clock.now().timestamp())
    claims = {"iss": ISSUER, "aud": "opentaco", "sub": "alice", "iat": now, "exp": now + 600}
    header = {"alg": "ES256", "kid": key.kid, "typ": "at+jwt"}
    header.update(overrides.pop("header", {}))
    header = {k: v for k, v in header.items() if v is not None}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(header, claims, key, algorithms=["ES256"], default_type=None)


async def test_round_trip(codec: JoseAccessTokens, clock: ManualClock) -> None:
    """A token we issue verifies back to the same principal."""
    token = await codec.issue(ALICE, now=clock.now(), ttl=HOUR)
    assert await codec.verify(token, now=clock.now()) == ALICE
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "ES256", "kid": codec.kid, "typ": "at+jwt"}


async def test_expired_token_is_refused(codec: JoseAccessTokens, clock: ManualClock) -> None:
    """After exp (plus 30 s of leeway for clock skew) the token is dead."""
    token = await codec.issue(ALICE, now=clock.now(), ttl=HOUR)
    clock.advance(HOUR.total_seconds() + 29)
    assert await codec.verify(token, now=clock.now())
    clock.advance(2)
    with pytest.raises(Unauthenticated, match="expired"):
        await codec.verify(token, now=clock.now())


async def test_expiry_is_told_apart(codec: JoseAccessTokens, clock: ManualClock) -> None:
    """An expired token is CredentialExpired (a fresh one would do); a valid one's
    principal carries the token's expiry."""
    token = await codec.issue(ALICE, now=clock.now(), ttl=HOUR)
    verified = await codec.verify(token, now=clock.now())
    assert verified.expires == clock.now() + HOUR
    clock.advance(HOUR.total_seconds() + 31)
    with pytest.raises(CredentialExpired):
        await codec.verify(token, now=clock.now())


@pytest.mark.parametrize(
    "principal",
    [
        Principal(
            subject="alice",
            kind=PrincipalKind.API_TOKEN,
            groups=("ops",),
            token_id="t-1",
            narrowed_to=("reader",),
        ),
        Principal(subject="bob", kind=PrincipalKind.API_TOKEN, token_id="t-2", narrowed_to=()),
        Principal(subject="anonymous", kind=PrincipalKind.ANONYMOUS),
    ],
)
async def test_whole_principal_round_trips(
    codec: JoseAccessTokens, clock: ManualClock, principal: Principal
) -> None:
    """Kind, API token ID and narrowed roles travel in the token (S3 session tokens act
    as API tokens); an empty narrowing stays empty, not absent."""
    token = await codec.issue(principal, now=clock.now(), ttl=HOUR, audience="s3")
    verified = await codec.verify(token, now=clock.now(), audience="s3")
    assert verified == principal
    assert (verified.kind, verified.token_id, verified.narrowed_to) == (
        principal.kind,
        principal.token_id,
        principal.narrowed_to,
    )


async def test_audiences_do_not_mix(codec: JoseAccessTokens, clock: ManualClock) -> None:
    """A token for one audience is refused by a verify for another, both ways."""
    s3 = await codec.issue(ALICE, now=clock.now(), ttl=HOUR, audience="s3")
    api = await codec.issue(ALICE, now=clock.now(), ttl=HOUR)
    with pytest.raises(Unauthenticated, match="aud"):
        await codec.verify(s3, now=clock.now())
    with pytest.raises(Unauthenticated, match="aud"):
        await codec.verify(api, now=clock.now(), audience="s3")
    assert await codec.verify(s3, now=clock.now(), audience="s3") == ALICE


async def test_a_token_cannot_assert_the_service_itself(
    codec: JoseAccessTokens, store: MemoryAuthStore, clock: ManualClock
) -> None:
    """Even signed by us, a token claiming the system kind (or an unknown one) is refused."""
    for kind in ("system", "root"):
        with pytest.raises(Unauthenticated, match="kind"):
            await codec.verify(await forge(store, clock, kind=kind), now=clock.now())


async def test_not_yet_valid_token_is_refused(
    codec: JoseAccessTokens, store: MemoryAuthStore, clock: ManualClock
) -> None:
    """nbf in the future (beyond leeway) is refused."""
    later = int(clock.now().timestamp()) + 300
    token = await forge(store, clock, nbf=later)
    with pytest.raises(Unauthenticated):
        await codec.verify(token, now=clock.now())


async def test_tampered_payload_is_refused(codec: JoseAccessTokens, clock: ManualClock) -> None:
    """Changing any claim breaks the signature."""
    token = await codec.issue(ALICE, now=clock.now(), ttl=HOUR)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "admin"
    forged = f"{header}.{segment(claims)}.{signature}"
    with pytest.raises(Unauthenticated, match="signature"):
        await codec.verify(forged, now=clock.now())


async def test_tampered_signature_is_refused(codec: JoseAccessTokens, clock: ManualClock) -> None:
    """A flipped signature byte fails."""
    token = await codec.issue(ALICE, now=clock.now(), ttl=HOUR)
    head, _, signature = token.rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[0] ^= 1
    with pytest.raises(Unauthenticated):
        await codec.verify(f"{head}.{b64(bytes(raw))}", now=clock.now())


@pytest.mark.parametrize(
    ("claim", "value"),
    [("aud", "someone-else"), ("aud", ["api", "s3"]), ("iss", "https://evil.example")],
)
async def test_wrong_audience_or_issuer_is_refused(
    codec: JoseAccessTokens, store: MemoryAuthStore, clock: ManualClock, claim: str, value: Any
) -> None:
    """Even correctly signed, a token for another audience or issuer is refused."""
    token = await forge(store, clock, **{claim: value})
    with pytest.raises(Unauthenticated, match=claim):
        await codec.verify(token, now=clock.now())


@pytest.mark.parametrize("missing", ["sub", "exp", "aud", "iss"])
async def test_missing_essential_claim_is_refused(
    codec: JoseAccessTokens, store: MemoryAuthStore, clock: ManualClock, missing: str
) -> None:
    """sub, exp, aud and iss are all required."""
    token = await forge(store, clock, **{missing: None})
    with pytest.raises(Unauthenticated):
        await codec.verify(token, now=clock.now())


async def test_alg_none_is_refused(codec: JoseAccessTokens, clock: ManualClock) -> None:
    """An unsigned token (alg none) is refused before any claim is read."""
    now = int(clock.now().timestamp())
    header = {"alg": "none", "kid": codec.kid, "typ": "at+jwt"}
    claims = {"iss": ISSUER, "aud": "opentaco", "sub": "admin", "exp": now + 600}
    for signature in ("", "AA"):
        token = f"{segment(header)}.{segment(claims)}.{signature}"
        with pytest.raises(Unauthenticated, match="algorithm"):
            await codec.verify(token, now=clock.now())


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_hmac_signed_with_the_public_key_is_refused(
    codec: JoseAccessTokens, clock: ManualClock, alg: str
) -> None:
    """The key-confusion attack: HMAC keyed with our published public key fails."""
    jwk = (await codec.public_keys())["keys"][0]  # type: ignore[index]
    public = ECKey.import_key(jwk)
    now = int(clock.now().timestamp())
    header = {"alg": alg, "kid": codec.kid, "typ": "at+jwt"}
    claims = {"iss": ISSUER, "aud": "opentaco", "sub": "admin", "iat": now, "exp": now + 600}
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    for secret in (public.as_pem(private=False), json.dumps(jwk).encode()):
        signing_input = f"{segment(header)}.{segment(claims)}"
        mac = hmac.new(secret, signing_input.encode(), digest).digest()
        with pytest.raises(Unauthenticated, match="algorithm"):
            await codec.verify(f"{signing_input}.{b64(mac)}", now=clock.now())


async def test_other_algorithms_and_keys_are_refused(
    codec: JoseAccessTokens, clock: ManualClock
) -> None:
    """An EdDSA or ES256 token from a key we never published is refused."""
    now = int(clock.now().timestamp())
    claims = {"iss": ISSUER, "aud": "opentaco", "sub": "admin", "iat": now, "exp": now + 600}
    stranger = ECKey.generate_key("P-256", parameters={"kid": codec.kid})
    token = jwt.encode({"alg": "ES256", "kid": codec.kid, "typ": "at+jwt"}, claims, stranger)
    with pytest.raises(Unauthenticated, match="signature"):
        await codec.verify(token, now=clock.now())
    unknown = jwt.encode({"alg": "ES256", "kid": "nope", "typ": "at+jwt"}, claims, stranger)
    with pytest.raises(Unauthenticated, match="unknown key"):
        await codec.verify(unknown, now=clock.now())
    ed = OKPKey.generate_key("Ed25519")
    token = jwt.encode(
        {"alg": "Ed25519", "kid": codec.kid, "typ": "at+jwt"}, claims, ed, algorithms=["Ed25519"]
    )
    with pytest.raises(Unauthenticated, match="algorithm"):
        await codec.verify(token, now=clock.now())


async def test_other_jwt_types_signed_by_our_key_are_refused(
    codec: JoseAccessTokens, store: MemoryAuthStore, clock: ManualClock
) -> None:
    """Only typ at+jwt passes, so no other kind of JWT doubles as an access token."""
    for typ in ("JWT", None):
        token = await forge(store, clock, header={"typ": typ})
        with pytest.raises(Unauthenticated, match="typ"):
            await codec.verify(token, now=clock.now())


@pytest.mark.parametrize("garbage", ["a.b.c", "...", "e30.e30.", "x" * 50, "a.b"])
async def test_malformed_tokens_are_refused(
    codec: JoseAccessTokens, clock: ManualClock, garbage: str
) -> None:
    """Garbage is Unauthenticated, never a server error."""
    with pytest.raises(Unauthenticated):
        await codec.verify(garbage, now=clock.now())


async def test_rotation_keeps_old_tokens_valid_until_they_expire(
    store: MemoryAuthStore, clock: ManualClock
) -> None:
    """A rotated-out key still verifies its tokens and stays in the JWKS until
    they expired; then it is dropped."""
    codec = await JoseAccessTokens.open(
        store, issuer=ISSUER, now=clock.now(), rotate_after=timedelta(days=30), keep_for=HOUR
    )
    first_kid = codec.kid
    clock.advance(timedelta(days=30).total_seconds() - 600)
    old = await codec.issue(ALICE, now=clock.now(), ttl=HOUR)
    clock.advance(600)
    await codec.maintain(clock.now())
    assert codec.kid != first_kid
    new = await codec.issue(ALICE, now=clock.now(), ttl=HOUR)
    assert await codec.verify(old, now=clock.now()) == ALICE
    assert await codec.verify(new, now=clock.now()) == ALICE
    kids = {k["kid"] for k in (await codec.public_keys())["keys"]}  # type: ignore[attr-defined]
    assert kids == {first_kid, codec.kid}
    clock.advance(HOUR.total_seconds() + 31)
    await codec.maintain(clock.now())
    kids = {k["kid"] for k in (await codec.public_keys())["keys"]}  # type: ignore[attr-defined]
    assert kids == {codec.kid}
    assert len(await store.list_signing_keys()) == 1


async def test_a_replica_learns_a_key_another_replica_rotated_to(
    store: MemoryAuthStore, clock: ManualClock
) -> None:
    """Tokens signed with a key this process has not loaded yet make it re-read
    the shared store instead of being refused."""
    a = await JoseAccessTokens.open(store, issuer=ISSUER, now=clock.now())
    b = await JoseAccessTokens.open(store, issuer=ISSUER, now=clock.now(), reload_interval=0)
    assert a.kid == b.kid
    await store.activate_signing_key(generate_signing_key(clock.now()), replacing=a.kid)
    await a.maintain(clock.now())
    token = await a.issue(ALICE, now=clock.now(), ttl=HOUR)
    assert await b.verify(token, now=clock.now()) == ALICE


async def test_signing_keys_persist_in_sqlite(tmp_path: Path, clock: ManualClock) -> None:
    """A restart keeps the key, so tokens issued before it stay valid."""
    path = tmp_path / "taco.db"
    first = await SqliteAuthStore.open(path)
    codec = await JoseAccessTokens.open(first, issuer=ISSUER, now=clock.now())
    token = await codec.issue(ALICE, now=clock.now(), ttl=HOUR)
    await first.aclose()
    second = await SqliteAuthStore.open(path)
    try:
        again = await JoseAccessTokens.open(second, issuer=ISSUER, now=clock.now())
        assert again.kid == codec.kid
        assert await again.verify(token, now=clock.now()) == ALICE
    finally:
        await second.aclose()


async def test_configured_pem_key(clock: ManualClock) -> None:
    """An operator's P-256 PEM signs and verifies; its kid is the thumbprint
    unless one is given; other key types are refused with a clear reason."""
    pem = ECKey.generate_key("P-256").as_pem(private=True)
    key = signing_key_from_pem(pem, kid="", now=clock.now())
    codec = JoseAccessTokens(issuer=ISSUER, configured=key)
    token = await codec.issue(ALICE, now=clock.now(), ttl=HOUR)
    assert await codec.verify(token, now=clock.now()) == ALICE
    assert codec.kid == ECKey.import_key(pem).thumbprint()
    assert signing_key_from_pem(pem, kid="k1", now=clock.now()).kid == "k1"
    with pytest.raises(InvalidKeyFile, match="P-256"):
        signing_key_from_pem(
            ECKey.generate_key("P-384").as_pem(private=True), kid="", now=clock.now()
        )
    with pytest.raises(InvalidKeyFile):
        signing_key_from_pem(b"not a key", kid="", now=clock.now())
