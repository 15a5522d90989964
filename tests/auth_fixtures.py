"""The auth fixtures two test layers share: a manual clock, the in-memory auth
store and our codec over it. ``tests/unit/conftest.py`` and
``tests/contract/identity/conftest.py`` bring them in by name."""

from __future__ import annotations

from datetime import timedelta

import pytest

from taco_adapters.clock import ManualClock
from taco_adapters.identity import JoseAccessTokens
from taco_adapters.memory import MemoryAuthStore

ISSUER = "https://taco.example.test"


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
