"""How ``opentacosvc`` treats connections: uvicorn's httptools protocol with
the limits it lacks, and quiet handling of running out of file descriptors.

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``) and can
answer 503 over a concurrency limit, but it waits forever for a request that
never completes: a client that connects and sends nothing, or half a header
line, or a body that stops, holds its socket (and its file descriptor) for
good, and some thousands of them leave the service unable to accept anyone.
``GuardedHttpProtocol`` adds, per connection:

- a **read timeout**: a request's headers must be complete within it of the
  connection opening (or of the request's first byte, on a kept-alive
  connection), else the client gets 408 and the connection is closed; a body
  that pauses longer than it between two pieces is dropped the same way
  (the handler sees the client gone). Time during which the server itself
  stopped reading (the handler is slow to take the body) does not count;
- a **connection limit**: a connection beyond ``max_connections`` gets 503 at
  once and is closed, so an overload frees descriptors instead of queueing;
- a **header size limit** (64 KiB, more than any client sends): 431.

``quiet_accept_errors`` replaces asyncio's report of a failed ``accept()``
(out of descriptors), which logs a traceback per attempt, thousands per
second, by one warning line every few seconds.

What happens here never reaches the app, so the request metrics cannot see
it: ``CONNECTIONS`` counts it instead (connections open, connections dropped
by reason, failed accepts) for ``taco_http.metrics`` to report. It is the
process's, like the sockets.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from http import HTTPStatus
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("opentaco.http")

MAX_HEADER_BYTES = 64 * 1024
# At most one line per this many seconds for a condition that repeats per connection.
_REPORT_EVERY = 10.0


class ConnectionStats:
    """What the protocol did to connections, for the metrics: how many are
    open, how many were dropped by reason (``too_many``, ``header_timeout``,
    ``headers_too_large``, ``body_stalled``) and how many ``accept()`` calls
    failed (out of file descriptors)."""

    def __init__(self) -> None:
        self.open = 0
        self.dropped: collections.Counter[str] = collections.Counter()
        self.accept_failures = 0


CONNECTIONS = ConnectionStats()


class _Throttle:
    """Lets a repeated report through at most once per ``_REPORT_EVERY`` seconds."""

    def __init__(self) -> None:
        self._last = -_REPORT_EVERY

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self._last < _REPORT_EVERY:
            return False
        self._last = now
        return True


class GuardedHttpProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with a read timeout, a connection limit and a
    header size limit (see the module docstring). Configure a subclass with
    ``guarded_protocol``; uvicorn makes one instance per connection."""

    read_timeout: ClassVar[float] = 20.0
    max_connections: ClassVar[int] = 1000
    _over_limit: ClassVar[_Throttle] = _Throttle()

    _timer: asyncio.TimerHandle | None = None
    _deadline: float | None = None
    _awaiting_headers = True
    _in_body = False
    _header_bytes = 0
    _last_read = 0.0

    # -- connection ------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        CONNECTIONS.open += 1
        if len(self.connections) > self.max_connections:
            if self._over_limit.ready():
                log.warning(
                    "connection limit reached (%d open, OPENTACO_MAX_CONNECTIONS): new "
                    "connections are answered 503 until some close",
                    len(self.connections) - 1,
                )
            self._refuse(
                HTTPStatus.SERVICE_UNAVAILABLE, "too many connections; retry later", "too_many"
            )
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        CONNECTIONS.open -= 1
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._last_read = self.loop.time()
        super().data_received(data)
        if self._awaiting_headers and not self.transport.is_closing():
            # The headers are still incomplete, so all of this was headers.
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._refuse(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                    f"request headers exceed {MAX_HEADER_BYTES} bytes",
                    "headers_too_large",
                )

    # -- parser callbacks --------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_headers = True
        if self._deadline is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._header_bytes = 0
        self._in_body = True
        self._disarm()
        super().on_headers_complete()
        self._arm()

    def on_message_complete(self) -> None:
        self._in_body = False
        self._disarm()
        super().on_message_complete()

    # -- the timer -----------------------------------------------------------------
    #
    # Every request moves the deadline twice (headers, then body), so moving it
    # must not cost a timer: it only stores a time. One timer per connection
    # fires at the earliest deadline set, and when the deadline has moved on
    # meanwhile, sleeps again until it.

    def _arm(self, delay: float | None = None) -> None:
        self._deadline = self.loop.time() + (self.read_timeout if delay is None else delay)
        if self._timer is None:
            self._timer = self.loop.call_at(self._deadline, self._wake)

    def _disarm(self) -> None:
        self._deadline = None

    def _stop_timer(self) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _wake(self) -> None:
        self._timer = None
        if self._deadline is None:
            return
        if self.loop.time() < self._deadline:
            self._timer = self.loop.call_at(self._deadline, self._wake)
            return
        self._deadline = None
        self._expired()

    def _expired(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._in_body:
            if self.flow.read_paused:
                # We stopped reading, not the client: wait until we read again.
                self._arm()
                return
            idle = self.loop.time() - self._last_read
            if idle < self.read_timeout:
                self._arm(self.read_timeout - idle)
                return
            log.debug("dropped %s: the request body stalled for %ss", self.client, idle)
            CONNECTIONS.dropped["body_stalled"] += 1
            # The handler is waiting for the body: it sees the client gone.
            self.transport.close()
            return
        log.debug(
            "dropped %s: no complete request headers within %ss", self.client, self.read_timeout
        )
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request behind a response still being sent: an answer
            # of ours would land inside that response.
            CONNECTIONS.dropped["header_timeout"] += 1
            self.transport.close()
            return
        self._refuse(
            HTTPStatus.REQUEST_TIMEOUT,
            f"request headers not received within {self.read_timeout:g}s",
            "header_timeout",
        )

    def _refuse(self, status: HTTPStatus, message: str, reason: str) -> None:
        """Answer ``status`` with a JSON error and close (no request is running);
        counted under ``reason``."""
        CONNECTIONS.dropped[reason] += 1
        self._stop_timer()
        body = json.dumps({"error": message}).encode()
        head = (
            f"HTTP/1.1 {status.value} {status.phrase}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()


def guarded_protocol(*, read_timeout: float, max_connections: int) -> type[GuardedHttpProtocol]:
    """A ``GuardedHttpProtocol`` with these limits, for ``uvicorn.Config(http=...)``."""
    return type(
        "ConfiguredHttpProtocol",
        (GuardedHttpProtocol,),
        {"read_timeout": read_timeout, "max_connections": max_connections},
    )


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Report a failing ``accept()`` (out of file descriptors) in one line every
    few seconds instead of asyncio's traceback per attempt; leave every other
    report to asyncio."""
    throttle = _Throttle()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == "socket.accept() out of system resource":
            CONNECTIONS.accept_failures += 1
            if throttle.ready():
                log.warning(
                    "cannot accept connections: %s; they wait until some close (raise the "
                    "open-file limit, ulimit -n, or lower OPENTACO_MAX_CONNECTIONS)",
                    context.get("exception"),
                )
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
