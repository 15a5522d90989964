"""``WebhookSender``: ``unit.status_changed`` notifications, POSTed and signed.

Why it behaves as it does:

- The body is rendered once, when the event is published (in the graph
  service's background pass, never in a state write), with a ``delivery`` ID
  that every retry repeats, so a receiver can drop duplicates.
- Each URL has its own bounded queue and its own delivery task: a slow or
  dead receiver delays only itself. When its queue is full the oldest
  notification is dropped, so memory stays bounded however slow it is; how
  many were dropped is logged.
- A delivery is retried with exponential backoff on a network error, a
  timeout, a 5xx, 408 or 429; any other 4xx is the receiver refusing it for
  good, logged and not retried.
- ``X-OpenTaco-Signature: sha256=<hex>`` is the HMAC-SHA256 of the exact body
  under the shared secret, as GitHub and others sign theirs.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.metadata
import json
import logging
from collections import deque
from collections.abc import Sequence

import aiohttp
import anyio
import anyio.abc

from taco_adapters.wire import STATUS_CHANGED, status_changed_json
from taco_core.events import Event, UnitStatusChanged

SIGNATURE_HEADER = "X-OpenTaco-Signature"
EVENT_HEADER = "X-OpenTaco-Event"
DELIVERY_HEADER = "X-OpenTaco-Delivery"

_log = logging.getLogger("opentaco.webhooks")
_RETRY_STATUSES = frozenset({408, 429})


def signature(secret: str, body: bytes) -> str:
    """The ``X-OpenTaco-Signature`` value of ``body``: ``sha256=<hex HMAC>``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _user_agent() -> str:
    try:
        version = importlib.metadata.version("opentaco")
    except importlib.metadata.PackageNotFoundError:
        version = "0+unknown"
    return f"opentaco-webhooks/{version}"


class _Target:
    """One receiver: its queue of bodies (``(delivery, body)``) and what was dropped."""

    def __init__(self, url: str, size: int) -> None:
        self.url = url
        self.queue: deque[tuple[str, bytes]] = deque(maxlen=size)
        self.dropped = 0
        self.ready = anyio.Event()

    def put(self, delivery: str, body: bytes) -> None:
        if len(self.queue) == self.queue.maxlen:
            self.dropped += 1
        self.queue.append((delivery, body))
        self.ready.set()


class WebhookSender:
    """Delivers ``unit.status_changed`` to ``urls``, signed with ``secret``.

    Subscribe it to the event bus and run ``run()`` as a background task
    (the HTTP session is made there, in the serving event loop). Notifications
    still queued when the task is cancelled are lost. ``queue_size`` bounds
    each URL's queue; a delivery is tried ``max_attempts`` times, waiting
    ``backoff`` seconds after the first failure, twice as long after each
    next one, at most ``max_backoff``; each try gives up after ``timeout``.
    """

    def __init__(
        self,
        urls: Sequence[str],
        secret: str,
        *,
        queue_size: int = 1000,
        max_attempts: int = 8,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        timeout: float = 10.0,
    ) -> None:
        if not secret:
            raise ValueError("webhooks need a secret to sign with")
        self._secret = secret
        self._targets = [_Target(url, queue_size) for url in urls]
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.delivered = 0

    @property
    def urls(self) -> list[str]:
        return [t.url for t in self._targets]

    def pending(self, url: str) -> int:
        """How many notifications wait for ``url``."""
        return next(len(t.queue) for t in self._targets if t.url == url)

    async def publish(self, event: Event) -> None:
        """Queue a notification of a colour change (``EventSink``); no I/O."""
        if not isinstance(event, UnitStatusChanged) or not self._targets:
            return
        doc = status_changed_json(event)
        body = json.dumps(doc, separators=(",", ":")).encode()
        for target in self._targets:
            target.put(doc["delivery"], body)

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Deliver until cancelled, one task per URL."""
        async with (
            aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": _user_agent()}
            ) as session,
            anyio.create_task_group() as tg,
        ):
            for target in self._targets:
                tg.start_soon(self._deliver_forever, session, target)
            task_status.started()

    async def _deliver_forever(self, session: aiohttp.ClientSession, target: _Target) -> None:
        while True:
            while not target.queue:
                target.ready = anyio.Event()
                await target.ready.wait()
            if target.dropped:
                _log.warning(
                    "webhook %s: %d notifications dropped, the oldest first "
                    "(queue full: the receiver is slower than the changes)",
                    target.url,
                    target.dropped,
                )
                target.dropped = 0
            delivery, body = target.queue.popleft()
            await self._deliver(session, target.url, delivery, body)

    async def _deliver(
        self, session: aiohttp.ClientSession, url: str, delivery: str, body: bytes
    ) -> None:
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: STATUS_CHANGED,
            DELIVERY_HEADER: delivery,
            SIGNATURE_HEADER: signature(self._secret, body),
        }
        delay = self._backoff
        for attempt in range(1, self._max_attempts + 1):
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    status = response.status
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                failure = str(exc) or type(exc).__name__
            else:
                if 200 <= status < 300:
                    self.delivered += 1
                    return
                if status < 500 and status not in _RETRY_STATUSES:
                    _log.error(
                        "webhook %s refused delivery %s with HTTP %d; not retried",
                        url,
                        delivery,
                        status,
                    )
                    return
                failure = f"HTTP {status}"
            if attempt == self._max_attempts:
                break
            _log.warning(
                "webhook %s: delivery %s failed (%s); retry %d in %.1fs",
                url,
                delivery,
                failure,
                attempt,
                delay,
            )
            await anyio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)
        _log.error(
            "webhook %s: delivery %s failed %d times (%s); given up",
            url,
            delivery,
            self._max_attempts,
            failure,
        )
