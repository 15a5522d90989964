"""The provider in process, over ``FakeControl``, with a real blocking portal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from tf.utils import Diagnostics

from taco_tf_provider import client
from taco_tf_provider.provider import OpenTacoProvider
from tests.provider.fakes import FakeControl


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal(backend="asyncio") as portal:
        yield portal


@pytest.fixture
def fake() -> FakeControl:
    return FakeControl()


def configured(
    portal: BlockingPortal, fake: FakeControl, config: dict[str, Any] | None = None
) -> OpenTacoProvider:
    provider = OpenTacoProvider(portal, environ={}, resolve=client.resolve, connect=lambda _: fake)
    diags = Diagnostics()
    provider.configure_provider(
        diags, config or {"endpoint": "http://taco.test:8080", "token": "otc_test"}
    )
    assert not diags.diagnostics, str(diags)
    return provider


@pytest.fixture
def provider(portal: BlockingPortal, fake: FakeControl) -> Iterator[OpenTacoProvider]:
    provider = configured(portal, fake)
    yield provider
    provider.close()


def errors(diags: Diagnostics) -> list[tuple[str, str]]:
    """(summary, detail) of each error diagnostic."""
    return [(d.summary, d.detail or "") for d in diags.diagnostics if d.severity == "error"]
