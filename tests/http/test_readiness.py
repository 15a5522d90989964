"""Readiness answers in time even when the store hangs."""

from __future__ import annotations

import time

import anyio
import pytest
from starlette.testclient import TestClient

from taco_adapters.clock import SystemClock
from taco_adapters.memory import MemoryAuthStore, MemoryRbacStore, MemoryStateStore
from taco_core.errors import StorageUnavailable
from taco_http.app import create_app
from taco_http.settings import Settings
from taco_http.wiring import Adapters


def on(states: MemoryStateStore) -> Adapters:
    return Adapters(
        states=states, auth=MemoryAuthStore(), rbac=MemoryRbacStore(), clock=SystemClock()
    )


class HangingStore(MemoryStateStore):
    async def ping(self) -> None:
        await anyio.sleep(30)


class BrokenStore(MemoryStateStore):
    async def ping(self) -> None:
        raise StorageUnavailable("HeadBucket tfstate failed: connection refused")


def test_hanging_store_gives_503_within_the_probe_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A store that does not answer makes /readyz 503 at the deadline, not after the hang."""
    app = create_app(Settings(storage="memory", auth_disable=True), adapters=on(HangingStore()))
    with TestClient(app) as client:
        started = time.monotonic()
        r = client.get("/readyz")
        assert time.monotonic() - started < 10  # the store would hang for 30 s
    assert r.status_code == 503
    assert "did not answer" in caplog.text


def test_failing_store_gives_503_and_logs_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    """A store error makes /readyz 503; the reason goes to the log, not to the
    unauthenticated prober; /healthz stays 200."""
    app = create_app(Settings(storage="memory", auth_disable=True), adapters=on(BrokenStore()))
    with TestClient(app) as client:
        r = client.get("/readyz")
        assert client.get("/healthz").status_code == 200
    assert r.status_code == 503
    assert r.json()["error"] == "the store does not answer"
    assert "HeadBucket" not in r.text
    assert "connection refused" in caplog.text
