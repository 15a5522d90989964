"""A tiny closed-loop load generator on aiohttp (loopback only).

``concurrency`` workers share one keep-alive connection pool; each runs at most
``per_worker`` operations and starts none after ``max_seconds`` (or once its
operation raises ``Exhausted``), so every cell is bounded in requests and in
time. An operation is any coroutine (one request,
or a LOCK + POST + UNLOCK cycle) and is timed as a whole.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import aiohttp

from benchmarks.stats import Summary, summarize

Operation = Callable[[aiohttp.ClientSession, int, int], Awaitable[None]]


class Exhausted(Exception):
    """Raised by an operation that has nothing left to send: its worker stops."""


class UnexpectedStatus(Exception):
    def __init__(self, method: str, url: str, status: int, body: bytes) -> None:
        super().__init__(f"{method} {url} answered {status}: {body[:200]!r}")
        self.status = status


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def summary(self) -> Summary:
        return summarize(self.latencies, self.seconds, sum(self.errors.values()))

    def add(self, other: LoadResult) -> None:
        """Fold in another slice of the same cell."""
        self.latencies += other.latencies
        self.errors.update(other.errors)
        self.seconds += other.seconds


def session(concurrency: int) -> aiohttp.ClientSession:
    """A client session with one pooled connection per worker and no timeouts
    short enough to cut a 100 MB transfer."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300),
        auto_decompress=False,
    )


async def request(
    client: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    expect: int = 200,
) -> bytes:
    """One request, its body read to the end; ``UnexpectedStatus`` otherwise."""
    async with client.request(method, url, data=data, headers=headers) as resp:
        body = await resp.read()
        if resp.status != expect:
            raise UnexpectedStatus(method, url, resp.status, body)
        return body


async def run(
    client: aiohttp.ClientSession,
    op: Operation,
    *,
    concurrency: int,
    per_worker: int,
    max_seconds: float,
    first_index: int = 0,
) -> LoadResult:
    """Run ``op(client, worker, index)`` from ``concurrency`` workers, indices
    ``first_index ..`` per worker, within ``max_seconds`` of wall time."""
    result = LoadResult()
    start = time.perf_counter()
    deadline = start + max_seconds

    async def worker(number: int) -> None:
        for index in range(first_index, first_index + per_worker):
            if time.perf_counter() >= deadline:
                return
            began = time.perf_counter()
            try:
                await op(client, number, index)
            except Exhausted:
                return
            except UnexpectedStatus as exc:
                result.errors[f"HTTP {exc.status}"] += 1
                continue
            except aiohttp.ClientError as exc:
                result.errors[type(exc).__name__] += 1
                continue
            result.latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    result.seconds = time.perf_counter() - start
    return result
