"""Fixtures for the auth use cases: a manual clock, the in-memory auth store,
our codec over it and a fake of the OIDC provider's ID-token verifier."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pytest

from taco_adapters.clock import ManualClock
from taco_adapters.identity import JoseAccessTokens
from taco_adapters.memory import MemoryAuthStore, MemoryRbacStore
from taco_core.auth import BOOTSTRAP_SUBJECT
from taco_core.auth_service import AuthService
from taco_core.errors import Unauthenticated
from taco_core.event_bus import EventBus
from taco_core.events import Event
from taco_core.rbac_service import RbacService
from tests.auth_fixtures import clock, codec, store

__all__ = [
    "EventLog",
    "FakeIdTokens",
    "clock",
    "codec",
    "events",
    "id_tokens",
    "rbac",
    "service",
    "store",
]

# Holds the admin role in the auth tests' RBAC policy, beside the bootstrap subject.
ROOT = "root"


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


class EventLog:
    """An ``EventSink`` that keeps what it is given."""

    def __init__(self) -> None:
        self.seen: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.seen.append(event)


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
async def rbac(clock: ManualClock) -> RbacService:
    """Authorization over a fresh install's policy: ``root`` and the
    bootstrap subject hold ``admin``."""
    service = RbacService(MemoryRbacStore(), clock)
    await service.ensure_initialised([ROOT, BOOTSTRAP_SUBJECT])
    return service


@pytest.fixture
def service(
    store: MemoryAuthStore,
    codec: JoseAccessTokens,
    clock: ManualClock,
    id_tokens: FakeIdTokens,
    rbac: RbacService,
    events: EventLog,
) -> AuthService:
    return AuthService(
        store, codec, clock, id_tokens=id_tokens, rbac=rbac, events=EventBus([events])
    )
