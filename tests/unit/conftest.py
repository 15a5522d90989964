"""Fixtures for the auth use cases: a manual clock, the in-memory auth store,
our codec over it and a fake of the OIDC provider's ID-token verifier."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import pytest

from taco_adapters.clock import ManualClock
from taco_adapters.identity.access_tokens import JoseAccessTokens
from taco_adapters.memory import MemoryAuthStore
from taco_core.auth_service import AuthService
from taco_core.errors import Unauthenticated

ISSUER = "https://taco.example.test"


class FakeIdTokens:
    """``IdTokenVerifier`` fake: the tokens it knows and the claims they carry."""

    def __init__(self) -> None:
        self.known: dict[str, Mapping[str, object]] = {}

    async def verify(self, id_token: str, *, now: datetime) -> Mapping[str, object]:
        try:
            return self.known[id_token]
        except KeyError:
            raise Unauthenticated("invalid ID token") from None


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store() -> MemoryAuthStore:
    return MemoryAuthStore()


@pytest.fixture
async def codec(store: MemoryAuthStore, clock: ManualClock) -> JoseAccessTokens:
    return await JoseAccessTokens.open(
        store, issuer=ISSUER, now=clock.now(), keep_for=timedelta(hours=1)
    )


@pytest.fixture
def id_tokens() -> FakeIdTokens:
    fake = FakeIdTokens()
    fake.known["alice-id-token"] = {
        "sub": "alice",
        "email": "alice@example.test",
        "groups": ["platform"],
        "nonce": "n-1",
    }
    return fake


@pytest.fixture
def service(
    store: MemoryAuthStore, codec: JoseAccessTokens, clock: ManualClock, id_tokens: FakeIdTokens
) -> AuthService:
    return AuthService(store, codec, clock, id_tokens=id_tokens)
