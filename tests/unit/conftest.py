"""Fixtures for the auth use cases: a manual clock, the in-memory auth store,
our codec over it and a fake of the OIDC provider's ID-token verifier."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pytest

from taco_adapters.clock import ManualClock
from taco_adapters.identity import JoseAccessTokens
from taco_adapters.memory import MemoryAuthStore
from taco_core.auth_service import AuthService
from taco_core.errors import Unauthenticated
from tests.auth_fixtures import clock, codec, store

__all__ = ["FakeIdTokens", "clock", "codec", "id_tokens", "service", "store"]


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
