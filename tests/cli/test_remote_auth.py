"""``RemoteStateControl``'s authentication against a scripted server: the
Bearer header, one renewal on 401, ``SessionExpired``, and error bodies
mapped back to core errors by their ``kind``."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from aiohttp import web

import taco_core.errors as core_errors
from taco_adapters.remote import RemoteAuth, SessionExpired, StaticToken
from taco_adapters.wire import error_json
from taco_core.auth import IssuedTokens
from taco_core.errors import (
    BodyTooLarge,
    IdentityProviderUnavailable,
    LockConflict,
    StateRejected,
    StateTooLarge,
    StorageUnavailable,
    TacoError,
    TokenNotFound,
    Unauthenticated,
    VersionNotFound,
)
from taco_core.model import LockInfo
from taco_core.unit_id import UnitId
from taco_http.errors import status_for
from tests.cli.test_remote import HOLDER, remote, scripted

UNIT = UnitId("app/auth")


class Keys:
    """``Credentials`` over an in-memory pair, counting the refreshes."""

    def __init__(self, access: str, refresh: str = "") -> None:
        self.access = access
        self.refresh = refresh
        self.refreshes = 0

    def token(self) -> str | None:
        return self.access

    async def renew(self, refused: str, refresh: Any) -> str | None:
        if self.access != refused:
            return self.access
        if not self.refresh:
            return None
        self.refreshes += 1
        issued: IssuedTokens = await refresh(self.refresh)
        self.access, self.refresh = issued.access_token, issued.refresh_token
        return self.access


def _pair(n: int) -> dict[str, Any]:
    return {
        "access_token": f"access-{n}",
        "refresh_token": f"otr_{n}",
        "expires_in": 3600,
        "refresh_expires_in": 86400,
        "token_type": "Bearer",
    }


class AuthServer:
    """Accepts ``Bearer access-<current>`` only; rotates on POST /v1/auth/token."""

    def __init__(self, *, refresh_ok: bool = True, refusals: int = 1) -> None:
        self.current = 1
        self.refresh_ok = refresh_ok
        self.seen: list[tuple[str, str, str]] = []
        # The refresh is answered only once this many requests were refused,
        # so callers refused together are all waiting when it lands.
        self.refusals = refusals
        self.refused = 0
        self.piled_up = anyio.Event()

    async def respond(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        self.seen.append((request.method, request.path, header))
        if request.path == "/v1/auth/token":
            body = await request.json()
            await self.piled_up.wait()
            if not self.refresh_ok or body["refresh_token"] != f"otr_{self.current}":
                return web.json_response(
                    {"error": "refresh token already used", "kind": "unauthenticated"}, status=401
                )
            self.current += 1
            return web.json_response(_pair(self.current))
        if header != f"Bearer access-{self.current}":
            self.refused += 1
            if self.refused >= self.refusals:
                self.piled_up.set()
            return web.json_response(
                {"error": "token expired", "kind": "unauthenticated"}, status=401
            )
        return web.json_response({"units": [], "count": 0})


async def test_a_refused_token_is_renewed_once_and_the_request_resent() -> None:
    """401 -> one refresh with the saved refresh token -> the request again, with the new token."""
    server = AuthServer()
    keys = Keys("stale", "otr_1")
    async with remote(server.respond, credentials=keys) as (_s, c):
        assert await c.list_units() == []
    assert keys.refreshes == 1 and (keys.access, keys.refresh) == ("access-2", "otr_2")
    assert server.seen == [
        ("GET", "/v1/units", "Bearer stale"),
        ("POST", "/v1/auth/token", ""),
        ("GET", "/v1/units", "Bearer access-2"),
    ]


async def test_a_write_refused_with_401_is_resent_after_renewal() -> None:
    """A 401 means nothing was done, so even an upload is resent (once)."""
    bodies: list[bytes] = []

    async def respond(request: web.Request) -> web.StreamResponse:
        if request.path == "/v1/auth/token":
            return web.json_response(_pair(2))
        bodies.append(await request.read())
        if request.headers.get("Authorization") != "Bearer access-2":
            return web.json_response({"error": "expired", "kind": "unauthenticated"}, status=401)
        return web.json_response({"id": UNIT, "created": "2026-01-01T00:00:00Z"}, status=201)

    async with remote(respond, credentials=Keys("old", "otr_1")) as (_server, c):
        await c.create_unit(UNIT)
    assert len(bodies) == 2 and bodies[0] == bodies[1]


async def test_a_dead_session_is_session_expired() -> None:
    """When the refresh is refused too, the call fails with ``SessionExpired``."""
    server = AuthServer(refresh_ok=False)
    async with remote(server.respond, credentials=Keys("stale", "otr_1")) as (_s, c):
        with pytest.raises(SessionExpired) as caught:
            await c.list_units()
    assert caught.value.message.startswith("session expired: ")
    assert "refresh token already used" in caught.value.message
    assert isinstance(caught.value, Unauthenticated)


async def test_a_static_token_is_never_renewed() -> None:
    """An API token (``StaticToken``) that is refused stays refused: no refresh call."""
    server = AuthServer()
    async with remote(server.respond, credentials=StaticToken("otc_x")) as (_s, c):
        with pytest.raises(Unauthenticated) as caught:
            await c.list_units()
    assert type(caught.value) is Unauthenticated
    assert [path for _, path, _ in server.seen] == ["/v1/units"]


async def test_concurrent_refusals_share_one_renewal() -> None:
    """Calls refused together renew once: a refresh token is single-use."""
    server = AuthServer(refusals=5)
    keys = Keys("stale", "otr_1")
    async with remote(server.respond, credentials=keys) as (_s, c), anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(c.list_units)
    assert keys.refreshes == 1
    assert [p for _, p, _ in server.seen].count("/v1/auth/token") == 1


async def test_public_auth_endpoints_get_no_credentials() -> None:
    """config, exchange, refresh and logout are sent without the Bearer token."""
    seen: list[str] = []

    async def respond(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization", ""))
        if request.path == "/v1/auth/config":
            return web.json_response({"auth_enabled": True, "issuer": "https://idp"})
        return web.json_response(_pair(1))

    async with (
        scripted(respond) as server,
        RemoteAuth(server.url, credentials=StaticToken("otc_secret")) as c,
    ):
        config = await c.auth_config()
        await c.exchange_id_token("id", nonce="n")
        await c.refresh_tokens("otr_1")
        await c.logout("otr_1")
    assert seen == ["", "", "", ""]
    assert (config.issuer, config.oidc_enabled, config.redirect_uris) == ("https://idp", True, ())


# -- error bodies by kind ------------------------------------------------------------


def _core_errors() -> Iterator[TacoError]:
    """One instance of every core error class, with data where it carries some."""
    lock = LockInfo(**HOLDER)
    samples: dict[type[TacoError], TacoError] = {
        LockConflict: LockConflict(UNIT, lock),
        StateRejected: StateRejected(UNIT, "serial 1 is older", 7),
        StateTooLarge: StateTooLarge(1024),
        BodyTooLarge: BodyTooLarge("lock request", 65536),
        VersionNotFound: VersionNotFound(UNIT, 9),
        TokenNotFound: TokenNotFound("tok-1"),
        core_errors.PermissionDenied: core_errors.PermissionDenied(
            "unit.write", UNIT, "no matching allow"
        ),
        core_errors.RoleNotFound: core_errors.RoleNotFound("ops"),
        core_errors.PermissionNotFound: core_errors.PermissionNotFound("p1"),
        core_errors.NotAssigned: core_errors.NotAssigned("role", "ops", "alice"),
        core_errors.RoleAlreadyExists: core_errors.RoleAlreadyExists("ops"),
        core_errors.PermissionAlreadyExists: core_errors.PermissionAlreadyExists("p1"),
        core_errors.AlreadyAssigned: core_errors.AlreadyAssigned("role", "ops", "alice"),
        core_errors.StillReferenced: core_errors.StillReferenced("role", "ops", ("alice", "bob")),
        core_errors.ConcurrentPolicyUpdate: core_errors.ConcurrentPolicyUpdate(),
        core_errors.ConcurrentDirectoryUpdate: core_errors.ConcurrentDirectoryUpdate(),
        core_errors.DamagedPayload: core_errors.DamagedPayload("0" * 32, "f" * 32),
    }
    for _, cls in inspect.getmembers(core_errors, inspect.isclass):
        if not issubclass(cls, TacoError):
            continue
        if cls in samples:
            yield samples[cls]
            continue
        params = list(inspect.signature(cls).parameters)
        yield cls(UNIT) if params == ["unit_id"] else cls(f"a {cls.__name__} happened")


@pytest.mark.parametrize("error", list(_core_errors()), ids=lambda e: type(e).__name__)
async def test_every_core_error_comes_back_as_itself(error: TacoError) -> None:
    """The server's body for each core error (``kind``, message and data, as
    ``taco_http.errors`` renders it) maps back to that exact class, with its data."""
    body = error_json(error)

    async def respond(request: web.Request) -> web.StreamResponse:
        return web.json_response(body, status=status_for(error))

    async with remote(respond, retries=0) as (server, c):
        with pytest.raises(TacoError) as caught:
            await c.get_unit(UNIT)
    got = caught.value
    assert type(got) is type(error)
    if isinstance(error, (StorageUnavailable, IdentityProviderUnavailable)):
        # The server failed: the message says which one.
        assert server.url in got.message and error.message in got.message
    else:
        assert got.message == error.message
    for name in (
        "unit_id", "number", "token_id", "limit", "what", "holder", "reason", "quarantined",
        "action", "resource", "role_id", "permission_id", "item_kind", "item", "item_id",
        "assignee", "referrers", "organization", "subject", "expected_md5", "actual_md5",
    ):  # fmt: skip
        assert getattr(got, name, None) == getattr(error, name, None), name


async def test_the_kind_wins_over_the_message() -> None:
    """A 404 whose message looks like a missing unit but whose kind says
    version is a ``VersionNotFound``, carrying the server's own words."""
    body = {"error": "unit 'app/auth' has no version 3", "kind": "version_not_found"}

    async def respond(request: web.Request) -> web.StreamResponse:
        return web.json_response(body, status=404)

    async with remote(respond) as (_server, c):
        with pytest.raises(VersionNotFound) as caught:
            await c.diff(UNIT, from_version=2, to_version=3)
    assert caught.value.message == body["error"]


async def test_an_unknown_kind_falls_back_to_the_status() -> None:
    """A kind this client does not know still maps by status."""

    async def respond(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "new", "kind": "quota_exceeded"}, status=409)

    async with remote(respond) as (_server, c):
        with pytest.raises(core_errors.Conflict) as caught:
            await c.get_unit(UNIT)
    assert type(caught.value) is core_errors.Conflict
