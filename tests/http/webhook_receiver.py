"""A real HTTP receiver of webhooks (an aiohttp server on a loopback port)."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

import anyio
from aiohttp import web
from multidict import CIMultiDictProxy


class Receiver:
    """Answers each POST with the next scripted status (then 200), or holds
    every answer while ``hold`` is set; keeps what it received."""

    def __init__(self, statuses: Iterable[int] = ()) -> None:
        self.script = deque(statuses)
        self.received: list[tuple[CIMultiDictProxy[str], bytes]] = []
        self.answered: list[int] = []
        self.hold = False
        self.released = anyio.Event()
        self._arrived = anyio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((request.headers, body))
        self._arrived.set()
        self._arrived = anyio.Event()
        if self.hold:
            await self.released.wait()
        status = self.script.popleft() if self.script else 200
        self.answered.append(status)
        return web.Response(status=status)

    async def wait_for(self, count: int) -> None:
        """Until ``count`` requests have arrived."""
        while len(self.received) < count:
            await self._arrived.wait()

    def bodies(self) -> list[Any]:
        return [json.loads(body) for _, body in self.received]

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/hook"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.released.set()
        assert self._runner is not None
        await self._runner.cleanup()
