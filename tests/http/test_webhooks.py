"""Webhooks against a real local HTTP receiver: signed bodies, retries with
backoff, bounded queues, and the whole path from a state write through the app."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import anyio
import anyio.from_thread
import pytest
from starlette.testclient import TestClient

from taco_adapters.webhooks import SIGNATURE_HEADER, WebhookSender, signature
from taco_core.caller import SYSTEM_CALLER
from taco_core.digest import edge_id
from taco_core.events import UnitStatusChanged
from taco_core.graph import Edge
from taco_core.graph_status import Colour
from taco_http.app import create_app
from taco_http.settings import Settings, SettingsError, from_env
from tests.http.test_graph_api import chain
from tests.http.webhook_receiver import Receiver

SECRET = "s3cr3t"
CAUSE = Edge(edge_id("a", "out", "b"), "a", "out", "b", "out", "d1", "d0", "pending")


def changed(unit: str = "b", to: Colour = Colour.RED) -> UnitStatusChanged:
    return UnitStatusChanged(
        caller=SYSTEM_CALLER,
        at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        unit_id=unit,
        before=Colour.GREEN,
        after=to,
        cause=CAUSE,
    )


@asynccontextmanager
async def sending(receiver: Receiver, **options: float) -> AsyncIterator[WebhookSender]:
    sender = WebhookSender([receiver.url], SECRET, **options)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        await tg.start(sender.run)
        yield sender
        tg.cancel_scope.cancel()


async def test_a_status_change_is_posted_and_signed() -> None:
    """The body is the documented JSON; the signature is the HMAC-SHA256 of
    the exact body under the secret, which the receiver can check."""
    async with Receiver() as receiver, sending(receiver) as sender:
        await sender.publish(changed())
        with anyio.fail_after(5):
            await receiver.wait_for(1)
    [(headers, body)] = receiver.received
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], signature(SECRET, body))
    assert headers["Content-Type"] == "application/json"
    assert headers["X-OpenTaco-Event"] == "unit.status_changed"
    doc = json.loads(body)
    assert headers["X-OpenTaco-Delivery"] == doc["delivery"]
    assert {k: v for k, v in doc.items() if k != "delivery"} == {
        "type": "unit.status_changed",
        "unit_id": "b",
        "from": "green",
        "to": "red",
        "cause": {
            "edge_id": CAUSE.id,
            "from_unit_id": "a",
            "from_output": "out",
            "to_unit_id": "b",
            "to_input": "out",
            "status": "pending",
            "in_digest": "d1",
            "out_digest": "d0",
            "last_in_at": None,
            "last_out_at": None,
        },
        "time": "2026-01-02T03:04:05.000000Z",
    }


async def test_a_failed_delivery_is_retried_with_the_same_body() -> None:
    """500 then 503 then 200: three tries of the same signed body; a 4xx is not retried."""
    async with Receiver([500, 503, 200, 404]) as receiver, sending(receiver, backoff=0.01) as s:
        await s.publish(changed("b"))
        with anyio.fail_after(5):
            await receiver.wait_for(3)
        await s.publish(changed("c"))
        with anyio.fail_after(5):
            await receiver.wait_for(4)
    assert receiver.answered == [500, 503, 200, 404]
    bodies = [body for _, body in receiver.received]
    assert bodies[0] == bodies[1] == bodies[2]
    assert s.delivered == 1
    assert json.loads(bodies[3])["unit_id"] == "c"


async def test_a_slow_receiver_keeps_memory_bounded(caplog: pytest.LogCaptureFixture) -> None:
    """While the receiver holds its answer, the queue keeps only the newest
    notifications (the oldest dropped), and the count is logged when delivery resumes."""
    caplog.set_level(logging.WARNING, logger="opentaco.webhooks")
    async with Receiver() as receiver:
        receiver.hold = True
        sender = WebhookSender([receiver.url], SECRET, queue_size=3)
        async with anyio.create_task_group() as tg:
            await tg.start(sender.run)
            await sender.publish(changed("first"))
            with anyio.fail_after(5):
                await receiver.wait_for(1)  # in flight, held
            for n in range(10):
                await sender.publish(changed(f"u{n}"))
            assert sender.pending(receiver.url) == 3
            receiver.released.set()
            with anyio.fail_after(5):
                await receiver.wait_for(4)
            tg.cancel_scope.cancel()
    assert [b["unit_id"] for b in receiver.bodies()] == ["first", "u7", "u8", "u9"]
    assert "7 notifications dropped" in caplog.text


def test_urls_without_a_secret_are_a_settings_error() -> None:
    """Unsigned notifications are not an option: the secret is required."""
    with pytest.raises(SettingsError, match="OPENTACO_WEBHOOK_SECRET"):
        from_env({"OPENTACO_WEBHOOK_URLS": "https://hooks.example/a"})
    with pytest.raises(SettingsError, match="http"):
        from_env({"OPENTACO_WEBHOOK_URLS": "ftp://x", "OPENTACO_WEBHOOK_SECRET": "s"})
    settings = from_env(
        {
            "OPENTACO_WEBHOOK_URLS": "https://a.example/h, http://b.example/h",
            "OPENTACO_WEBHOOK_SECRET": "s",
        }
    )
    assert settings.webhook_urls == ("https://a.example/h", "http://b.example/h")


def test_a_write_through_the_app_notifies_every_colour_change(tmp_path: Path) -> None:
    """Through the service: a's output changes, and the receiver gets b
    green -> red and c green -> yellow, signed, from the app's own tasks."""
    with anyio.from_thread.start_blocking_portal() as portal:
        receiver = portal.call(Receiver().__aenter__)
        settings = Settings(
            storage="sqlite",
            sqlite_db_path=tmp_path / "taco.db",
            auth_disable=True,
            webhook_urls=(receiver.url,),
            webhook_secret=SECRET,
        )
        try:
            with TestClient(create_app(settings)) as client:
                chain(client).write("app/a", out="changed")

                async def two() -> None:
                    with anyio.fail_after(10):
                        await receiver.wait_for(2)

                portal.call(two)
        finally:
            portal.call(receiver.__aexit__, None, None, None)
    changes = [(b["unit_id"], b["from"], b["to"]) for b in receiver.bodies()]
    assert changes == [("app/b", "green", "red"), ("app/c", "green", "yellow")]
    for headers, body in receiver.received:
        assert headers[SIGNATURE_HEADER] == signature(SECRET, body)
