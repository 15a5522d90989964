"""``RemoteStateControl`` against a scripted HTTP server: error mapping, retries, timeouts.

The scripted server answers exactly what a test tells it to, so every status
the real service can send (and a few it should not) is covered without
arranging the real conditions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
from aiohttp import web

from taco_adapters.remote import RemoteStateControl, ServerUnreachable
from taco_adapters.wire import version_headers
from taco_core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    LockConflict,
    NotFound,
    StateRejected,
    StateTooLarge,
    StorageUnavailable,
    TacoError,
    Unauthenticated,
    UnitAlreadyExists,
    UnitNotFound,
    VersionNotFound,
)
from taco_core.model import LockInfo, StateVersion
from taco_core.unit_id import UnitId
from tests.servers import free_port

UNIT = UnitId("app/lock")

Responder = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Scripted:
    """A server that records requests and answers with ``respond``."""

    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.requests: list[tuple[str, str, bytes]] = []
        self.url = ""
        self._arrived = anyio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.raw_path, await request.read()))
        self._arrived.set()
        return await self.respond(request)

    async def received(self, count: int) -> None:
        """Wait until ``count`` requests have arrived."""
        while len(self.requests) < count:
            self._arrived = anyio.Event()
            await self._arrived.wait()


@contextlib.asynccontextmanager
async def scripted(respond: Responder) -> AsyncIterator[Scripted]:
    server = Scripted(respond)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.url = f"http://{host}:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def remote(
    respond: Responder, **kwargs: Any
) -> AsyncIterator[tuple[Scripted, RemoteStateControl]]:
    """A scripted server and a client of it."""
    async with scripted(respond) as server, RemoteStateControl(server.url, **kwargs) as c:
        yield server, c


def answer(status: int, body: Any = None, text: str | None = None) -> Responder:
    async def respond(request: web.Request) -> web.StreamResponse:
        if text is not None:
            return web.Response(status=status, text=text)
        return web.json_response(body, status=status)

    return respond


HOLDER = {
    "id": "lock-1",
    "operation": "OperationTypeApply",
    "info": "",
    "who": "alice@ci",
    "version": "1.15.5",
    "created": "2026-01-01T00:00:00.123456789Z",
    "path": "",
}

Call = Callable[[RemoteStateControl], Awaitable[object]]


def _get(c: RemoteStateControl) -> Awaitable[object]:
    return c.get_unit(UNIT)


def _create(c: RemoteStateControl) -> Awaitable[object]:
    return c.create_unit(UNIT)


def _lock(c: RemoteStateControl) -> Awaitable[object]:
    return c.lock(UNIT, LockInfo(id="mine"))


def _upload(c: RemoteStateControl) -> Awaitable[object]:
    return c.upload(UNIT, b"{}")


def _version3(c: RemoteStateControl) -> Awaitable[object]:
    return c.read_version(UNIT, 3)


MAPPING: list[tuple[str, int, Any, Call, type[TacoError]]] = [
    ("423 lock", 423, {"error": "locked", "lock": HOLDER}, _lock, LockConflict),
    (
        "404 unit",
        404,
        {"error": "unit 'app/lock' not found", "kind": "unit_not_found"},
        _get,
        UnitNotFound,
    ),
    (
        "404 version",
        404,
        {"error": "unit 'app/lock' has no version 3", "kind": "version_not_found"},
        _version3,
        VersionNotFound,
    ),
    (
        "404 unit on version",
        404,
        {"error": "unit 'app/lock' not found", "kind": "unit_not_found"},
        _version3,
        UnitNotFound,
    ),
    ("404 route", 404, {"error": "Not Found"}, _get, NotFound),
    (
        "409 exists",
        409,
        {"error": "unit 'app/lock' already exists", "kind": "unit_already_exists"},
        _create,
        UnitAlreadyExists,
    ),
    (
        "409 rejected",
        409,
        {"error": "refused", "quarantined_version": 7, "reason": "serial 1 is older"},
        _upload,
        StateRejected,
    ),
    ("409 other", 409, {"error": "something else"}, _upload, Conflict),
    ("400", 400, {"error": "state is not valid JSON"}, _upload, InvalidInput),
    ("401", 401, {"error": "missing_bearer"}, _get, Unauthenticated),
    ("403", 403, {"error": "no"}, _get, Forbidden),
    ("413", 413, {"error": "state exceeds the size limit of 1024 bytes"}, _upload, StateTooLarge),
    ("503", 503, {"error": "SQLite error: disk I/O error"}, _upload, StorageUnavailable),
    ("500 text", 500, None, _upload, StorageUnavailable),
    ("418", 418, {"error": "teapot"}, _get, TacoError),
]


@pytest.mark.parametrize(
    ("status", "body", "call", "expected"),
    [m[1:] for m in MAPPING],
    ids=[m[0] for m in MAPPING],
)
async def test_error_answers_map_to_core_errors(
    status: int, body: Any, call: Call, expected: type[TacoError]
) -> None:
    """Each error status becomes the core error class the embedded service raises."""
    respond = answer(status, text="boom") if body is None else answer(status, body)
    async with remote(respond, retries=0) as (server, c):
        with pytest.raises(TacoError) as caught:
            await call(c)
    assert type(caught.value) is expected
    if status >= 500:
        assert server.url in caught.value.message


async def test_lock_conflict_carries_the_holder() -> None:
    """423's lock body becomes ``LockConflict.holder``, every field kept."""
    body = {"error": "x", "kind": "lock_conflict", "unit_id": UNIT, "lock": HOLDER}
    async with remote(answer(423, body)) as (_server, c):
        with pytest.raises(LockConflict) as caught:
            await c.upload(UNIT, b"{}")
    assert caught.value.holder == LockInfo(**HOLDER)
    assert caught.value.unit_id == UNIT


async def test_rejected_write_carries_reason_and_quarantined_version() -> None:
    """409 from the clobber guard keeps the quarantined version number and the reason."""
    body = {"error": "refused", "quarantined_version": 7, "reason": "serial 1 is older"}
    async with remote(answer(409, body)) as (_server, c):
        with pytest.raises(StateRejected) as caught:
            await c.upload(UNIT, b"{}")
    assert (caught.value.quarantined, caught.value.reason) == (7, "serial 1 is older")


async def test_too_large_keeps_the_limit() -> None:
    """413 becomes ``StateTooLarge`` with the server's limit."""
    body = {"error": "state exceeds the size limit", "kind": "state_too_large", "limit": 1024}
    async with remote(answer(413, body)) as (_server, c):
        with pytest.raises(StateTooLarge) as caught:
            await c.upload(UNIT, b"{}")
    assert caught.value.limit == 1024


async def test_unit_ids_travel_as_one_percent_encoded_segment() -> None:
    """``app/lock`` is sent as ``app%2Flock``, so its last segment is not an action."""
    missing = {"error": "unit 'app/lock' not found", "kind": "unit_not_found"}
    async with remote(answer(404, missing)) as (server, c):
        with pytest.raises(UnitNotFound):
            await c.get_unit(UNIT)
        with pytest.raises(UnitNotFound):
            await c.unlock(UNIT, "x")
    assert [r[1] for r in server.requests] == [
        "/v1/units/app%2Flock",
        "/v1/units/app%2Flock/unlock",
    ]


async def test_update_labels_patches_the_unit_and_returns_it() -> None:
    """PATCH /v1/units/<id as one segment> {"labels": changes}, a removal as null;
    the answer is the unit as it now is."""
    unit = {
        "id": "app/lock",
        "size": 0,
        "created": "2026-01-01T00:00:00.000000Z",
        "updated": "2026-01-01T00:00:00.000000Z",
        "locked": False,
        "lock": None,
        "labels": {"team": "b"},
        "version": None,
    }
    async with remote(answer(200, unit)) as (server, c):
        got = await c.update_labels(UNIT, {"team": "b", "old": None})
    assert dict(got.labels) == {"team": "b"}
    [(method, path, body)] = server.requests
    assert (method, path) == ("PATCH", "/v1/units/app%2Flock")
    assert json.loads(body) == {"labels": {"team": "b", "old": None}}


async def test_safe_calls_retry_transient_errors_and_writes_do_not() -> None:
    """GET, unlock and a labels update (idempotent) are retried on 503; an upload
    is sent exactly once."""
    async with remote(answer(503, {"error": "busy"}), retries=2) as (server, c):
        with pytest.raises(StorageUnavailable):
            await c.get_unit(UNIT)
        assert len(server.requests) == 3
        with pytest.raises(StorageUnavailable):
            await c.unlock(UNIT, "lock-1")
        assert len(server.requests) == 6
        with pytest.raises(StorageUnavailable):
            await c.update_labels(UNIT, {"k": None})
        assert len(server.requests) == 9
        with pytest.raises(StorageUnavailable):
            await c.upload(UNIT, b"{}")
        assert len(server.requests) == 10
        with pytest.raises(StorageUnavailable):
            await c.create_unit("app/x")
        assert len(server.requests) == 11


async def test_a_retried_read_succeeds_when_the_server_recovers() -> None:
    """One 503 then a good answer: the caller sees only the good answer."""
    answers = [answer(503, {"error": "busy"}), answer(200, {"units": [], "count": 0})]

    async def respond(request: web.Request) -> web.StreamResponse:
        return await answers.pop(0)(request)

    async with remote(respond) as (server, c):
        assert await c.list_units() == []
    assert len(server.requests) == 2


async def test_every_call_has_a_timeout_and_writes_are_not_resent() -> None:
    """A hung server fails the call after ``timeout``; a timed-out create is not resent."""

    async def hang(request: web.Request) -> web.StreamResponse:
        await anyio.sleep(1)
        return web.json_response({})

    async with remote(hang, timeout=0.2, retries=1) as (server, c):
        with anyio.fail_after(3):
            with pytest.raises(StorageUnavailable) as caught:
                await c.create_unit("app/x")
        assert "did not answer POST /v1/units: timed out" in caught.value.message
        assert len(server.requests) == 1
        with anyio.fail_after(3), pytest.raises(StorageUnavailable):
            await c.get_unit(UNIT)
        # The read was sent twice; on a loaded machine the client can give up
        # on the retry before the server (same event loop) has taken it in.
        with anyio.fail_after(3):
            await server.received(3)
        assert [method for method, _, _ in server.requests] == ["POST", "GET", "GET"]


async def test_unreachable_server_names_the_url() -> None:
    """Connection refused: ``ServerUnreachable`` (a ``StorageUnavailable``) naming the URL."""
    url = f"http://127.0.0.1:{free_port()}"
    async with RemoteStateControl(url, retries=1) as c:
        with pytest.raises(ServerUnreachable) as caught:
            await c.create_unit("app/x")
    assert caught.value.message.startswith(f"cannot reach the OpenTaco server at {url}: ")


async def test_lock_without_id_sends_a_client_chosen_id() -> None:
    """A blank lock ID is filled in by the client, so a retried lock is idempotent."""

    async def echo(request: web.Request) -> web.StreamResponse:
        return web.json_response(await request.json())

    async with remote(echo) as (server, c):
        held = await c.lock(UNIT, LockInfo(id="", who="me"))
    sent = json.loads(server.requests[0][2])
    assert held.id and sent["id"] == held.id and sent["who"] == "me"


async def test_download_checks_the_bytes_against_the_recorded_digest() -> None:
    """Bytes that do not match the version's SHA-256 are refused, not returned."""
    good = b'{"serial": 1}'

    version = StateVersion(
        unit_id=UNIT,
        number=1,
        serial=1,
        lineage=None,
        size=len(good),
        sha256=hashlib.sha256(good).hexdigest(),
        md5="",
        created=datetime(2026, 1, 1, tzinfo=UTC),
    )

    async def respond(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b'{"serial": 2}', headers=version_headers(version))

    async with remote(respond) as (_server, c):
        with pytest.raises(StorageUnavailable, match="does not match its recorded SHA-256"):
            await c.download(UNIT)


async def test_a_unit_without_state_downloads_as_none() -> None:
    """An empty download without a version header means 'no state yet'."""
    async with remote(answer(200, text="")) as (_server, c):
        assert await c.download(UNIT) is None


async def test_list_units_follows_pages_to_the_end() -> None:
    """``list_units`` asks for pages and follows ``next`` until there is none."""

    def unit_doc(uid: str) -> dict[str, Any]:
        return {"id": uid, "size": 0, "created": "2026-01-01T00:00:00Z",
                "updated": "2026-01-01T00:00:00Z", "locked": False, "lock": None,
                "labels": {}, "version": None}  # fmt: skip

    async def respond(request: web.Request) -> web.StreamResponse:
        after = request.query.get("after", "")
        assert request.query["limit"] == "2"
        pages = {
            "": (["a/1", "a/2"], "/v1/units?limit=2&after=a/2"),
            "a/2": (["a/3"], "/v1/units?limit=2&after=a/4"),
            "a/4": ([], None),
        }
        ids, link = pages[after]
        body: dict[str, Any] = {"units": [unit_doc(i) for i in ids], "count": len(ids)}
        if link:
            body["next"] = link
        return web.json_response(body)

    async with remote(respond) as (server, client):
        client.units_page = 2
        units = await client.list_units("a/")
    assert [u.id for u in units] == ["a/1", "a/2", "a/3"]
    assert len(server.requests) == 3
