"""The bare baselines: Starlette on the same uvicorn settings, no OpenTaco logic.

It serves the backend's URL shape (``/v1/backend/{key}``) and the unit list's
(``/v1/units``) so routing costs the same; a POST keeps the body in memory and a
GET returns it, so the bytes moved are the service's bytes. LOCK and UNLOCK
answer 200 with a small JSON body, as the service does; over SQLite
(``--sqlite``) every POST, LOCK and UNLOCK is one durable transaction. The uvicorn settings
and logging copy ``taco_http.main.serve`` (access log at INFO to stderr
included): a difference there would be measured as OpenTaco's cost.

Run as ``python -m benchmarks.bare --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import queue
import sqlite3
import sys
from pathlib import Path
from typing import Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_LOCK_ANSWER = {"ID": "bare", "Operation": "", "Info": "", "Who": "", "Version": "", "Path": ""}


class Blobs(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def put(self, key: str, data: bytes) -> None: ...
    async def set_lock(self, key: str, lock: bytes | None) -> None: ...


class MemoryBlobs:
    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    async def get(self, key: str) -> bytes | None:
        return self._blobs.get(key)

    async def put(self, key: str, data: bytes) -> None:
        self._blobs[key] = data

    async def set_lock(self, key: str, lock: bytes | None) -> None:
        return None


class SqliteBlobs:
    """One connection per worker thread call would cost a connect each time;
    a small pool of connections, as the adapter keeps, is handed out instead."""

    def __init__(self, path: Path, connections: int = 4) -> None:
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        for _ in range(connections):
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, data BLOB)")
            conn.execute("CREATE TABLE IF NOT EXISTS locks (key TEXT PRIMARY KEY, lock BLOB)")
            self._pool.put(conn)

    def _run(self, sql: str, params: tuple[object, ...], write: bool) -> bytes | None:
        conn = self._pool.get()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            row = conn.execute(sql, params).fetchone()
            conn.execute("COMMIT")
            return row[0] if row else None
        finally:
            self._pool.put(conn)

    async def get(self, key: str) -> bytes | None:
        sql = "SELECT data FROM blobs WHERE key = ?"
        return await asyncio.to_thread(self._run, sql, (key,), False)

    async def put(self, key: str, data: bytes) -> None:
        sql = "INSERT OR REPLACE INTO blobs (key, data) VALUES (?, ?)"
        await asyncio.to_thread(self._run, sql, (key, data), True)

    async def set_lock(self, key: str, lock: bytes | None) -> None:
        """LOCK and UNLOCK commit durably too: the floor of a durable cycle."""
        sql = "INSERT OR REPLACE INTO locks (key, lock) VALUES (?, ?)"
        await asyncio.to_thread(self._run, sql, (key, lock), True)


def create_bare_app(blobs: Blobs | None = None) -> Starlette:
    store: Blobs = blobs or MemoryBlobs()
    memo: dict[str, bytes] = {}

    async def backend(request: Request) -> Response:
        key = request.path_params["key"]
        if request.method == "GET":
            data = await store.get(key)
            if data is None:
                return Response(status_code=404)
            return Response(data, media_type="application/json")
        body = await request.body()
        if request.method in ("LOCK", "UNLOCK"):
            await store.set_lock(key, body if request.method == "LOCK" else None)
            return JSONResponse(_LOCK_ANSWER)
        await store.put(key, body)
        return Response(status_code=200)

    async def units(request: Request) -> Response:
        key = "units?" + request.url.query
        if request.method == "POST":
            memo[key] = await request.body()
            return Response(status_code=200)
        return Response(memo.get(key, b"{}"), media_type="application/json")

    async def readyz(request: Request) -> Response:
        return JSONResponse({"status": "ready", "service": "bare"})

    return Starlette(
        routes=[
            Route("/readyz", readyz, methods=["GET"]),
            Route(
                "/v1/backend/{key:path}",
                backend,
                methods=["GET", "POST", "PUT", "LOCK", "UNLOCK"],
            ),
            Route("/v1/units", units, methods=["GET", "POST"]),
        ]
    )


async def serve(host: str, port: int, sqlite: Path | None) -> None:
    config = uvicorn.Config(
        create_bare_app(SqliteBlobs(sqlite) if sqlite else None),
        host=host,
        port=port,
        log_level="info",
        lifespan="on",
        timeout_graceful_shutdown=10,
        server_header=False,
        log_config=None,
    )
    await uvicorn.Server(config).serve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bare")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sqlite", type=Path, help="keep the backend's bytes in this SQLite file")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.sqlite))
    return 0


if __name__ == "__main__":
    sys.exit(main())
