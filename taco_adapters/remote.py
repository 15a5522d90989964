"""``RemoteStateControl``: the ``StateControl`` port over HTTP, for a running ``opentacosvc``.

Front ends written against ``StateControl`` (the ``taco`` CLI, the Terraform
provider, custom tooling) run unchanged against this client or against the
embedded ``StateService``; both raise the core's ``TacoError`` classes, so a
caller handles a lock conflict the same way whether it crossed a network or
not. The server's answers are translated back into those classes here, in one
place (``_error_for``), and nothing aiohttp-specific escapes this module.

Why it behaves as it does:

- One ``aiohttp.ClientSession`` per instance, created lazily inside the event
  loop that uses it (sessions are bound to their loop); close it with
  ``aclose()`` or ``async with``.
- Every call has a timeout, so a hung server cannot hang a script.
- Retries happen only where repeating cannot change the outcome: reads
  (``GET``), calls the server treats as idempotent (lock with a client-chosen
  ID, unlock), and any call whose connection was never established (nothing
  was sent). An upload, create or delete is never sent twice.
- The server's responses carry only a version *number* for a state; the
  version's metadata comes from the history listing, and downloaded bytes are
  checked against that metadata's SHA-256.
- Authentication is a ``Credentials`` object the caller passes in: it supplies
  the Bearer token and, when the server refuses it (401), may renew a login
  session once per request (refresh-token rotation). A 401 means the server
  did not act on the request, so resending it after a renewal is safe even
  for an upload. Where tokens are kept (a file, a keyring, an environment
  variable) is the caller's business: ``taco_cli.credentials`` keeps them in
  the user's credentials file, ``StaticToken`` holds one in memory.
- Error bodies name the core error class (``"kind": "unit_not_found"``), which
  maps back to it exactly; servers without ``kind`` are still understood by
  status and message.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar
from urllib.parse import quote

import aiohttp
import anyio
import attrs
from multidict import CIMultiDictProxy

from taco_adapters.wire import (
    lock_json,
    parse_api_token,
    parse_diff,
    parse_lock,
    parse_time,
    parse_unit,
    parse_version,
)
from taco_core.auth import ApiToken, IssuedTokens, NewApiToken, Principal, PrincipalKind
from taco_core.diff import StateDiff
from taco_core.errors import (
    ConcurrentUpdate,
    Conflict,
    Forbidden,
    IdentityProviderUnavailable,
    InvalidInput,
    InvalidState,
    InvalidUnitId,
    LockConflict,
    NotConfigured,
    NotFound,
    ReservedUnitId,
    StateRejected,
    StateTooLarge,
    StorageUnavailable,
    TacoError,
    TokenNotFound,
    Unauthenticated,
    UnitAlreadyExists,
    UnitNotFound,
    VersionNotFound,
)
from taco_core.model import LockInfo, Payload, StateVersion, Surface, Unit, WriteResult
from taco_core.unit_id import UnitId, parse_user_unit_id

DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 2
# Pause before retry n is _BACKOFF * 2**n: short, because the usual cause is a
# server restarting, and a CLI user is waiting.
_BACKOFF = 0.1
# Page size when walking the history; the server accepts any limit.
_PAGE = 500
# Answers worth retrying for a safe call: the server or a proxy in front of it
# is momentarily unable to serve.
_TRANSIENT = frozenset({502, 503, 504})

Trace = Callable[[str], None]


class ServerUnreachable(StorageUnavailable):
    """No connection to the server could be made (refused, unknown host,
    connect timeout): nothing was sent, so nothing changed."""


class SessionExpired(Unauthenticated):
    """The server refused the access token and the login session could not be
    renewed (refresh token expired, revoked or already used): the user has to
    log in again."""


Refresher = Callable[[str], Awaitable[IssuedTokens]]
"""Trades a refresh token for a new token pair at the server (``POST /v1/auth/token``)."""


class Credentials(Protocol):
    """What ``RemoteStateControl`` sends to prove who is calling, and how it
    recovers when the server refuses it.

    The client never stores tokens itself, so one implementation can keep
    them in a file shared by several processes and another in memory.
    """

    def token(self) -> str | None:
        """The token to send as ``Authorization: Bearer``, or ``None`` to send none."""
        ...

    async def renew(self, refused: str, refresh: Refresher) -> str | None:
        """Called at most once per request, after the server answered 401 to
        ``refused``. Return the token to resend the request with, or ``None``
        when there is nothing better (the 401 then stands).

        An implementation holding a refresh token calls ``refresh`` with it
        and keeps the rotated pair *before* returning, because the old refresh
        token is spent; when ``token()`` has meanwhile moved past ``refused``
        (another call or process renewed first), it returns the newer token
        instead of refreshing again, since a refresh token presented twice
        ends the whole session. ``Unauthenticated`` from ``refresh`` means the
        session is over; the client reports it as ``SessionExpired``.
        """
        ...


class StaticToken:
    """``Credentials`` of one fixed token (an API token in CI, say); nothing to renew."""

    def __init__(self, token: str) -> None:
        self._token = token.strip()

    def token(self) -> str | None:
        """The token, or ``None`` when it is blank (send no header at all)."""
        return self._token or None

    async def renew(self, refused: str, refresh: Refresher) -> str | None:
        """Nothing to renew: a refused fixed token stays refused."""
        return None


@attrs.frozen
class AuthConfig:
    """What a server publishes for logging in (``GET /v1/auth/config``).

    The endpoints are empty when the server could not learn them from its
    identity provider; a client then asks the provider's discovery document.
    """

    auth_enabled: bool
    oidc_enabled: bool
    issuer: str = ""
    client_id: str = ""
    authorization_endpoint: str = ""
    token_endpoint: str = ""
    redirect_uris: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()


def _package_version() -> str:
    try:
        return importlib.metadata.version("opentaco")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


@attrs.frozen
class _Reply:
    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> dict[str, Any]:
        """The body as a JSON object, or ``{}`` when it is not one."""
        try:
            doc = json.loads(self.body) if self.body.strip() else {}
        except (UnicodeDecodeError, ValueError):
            return {}
        return doc if isinstance(doc, dict) else {}


class RemoteStateControl:
    """``StateControl`` implemented as an HTTP client of ``opentacosvc``.

    ``server`` is the base URL (``http://localhost:8080``). ``timeout`` bounds
    each request in seconds (each attempt, when a safe call is retried up to
    ``retries`` times). ``trace``, when given, receives one line per request
    and one per response (the CLI's ``--verbose``). ``credentials`` supplies
    the Bearer token of every request (``StaticToken("otc_...")`` for an API
    token); without it requests are anonymous, which only a server with
    authentication disabled accepts.
    """

    def __init__(
        self,
        server: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        trace: Trace | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        if not server.startswith(("http://", "https://")):
            raise InvalidInput(f"server URL must start with http:// or https://, got {server!r}")
        self.server = server.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retries = retries
        self._trace = trace
        self._credentials = credentials
        # Serialises renewals: concurrent calls refused together must not each
        # spend the (single-use) refresh token.
        self._renewing = anyio.Lock()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session; the instance may open a new one if used again."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # -- units ---------------------------------------------------------------

    async def create_unit(self, raw_id: str, labels: Mapping[str, str] | None = None) -> Unit:
        # Validated here too, so a bad ID fails with the same error class as
        # embedded and before any network round trip.
        unit_id = parse_user_unit_id(raw_id)
        reply = await self._call(
            "POST",
            "/v1/units",
            unit_id=unit_id,
            json_body={"id": unit_id, "labels": dict(labels or {})},
        )
        doc = reply.json()
        created = parse_time(doc["created"])
        return Unit(
            id=UnitId(doc.get("id", unit_id)), created=created, updated=created, labels=labels
        )

    async def list_units(self, prefix: str = "", *, deleted: bool = False) -> Sequence[Unit]:
        params = {"prefix": prefix}
        if deleted:
            params["deleted"] = "true"
        reply = await self._call("GET", "/v1/units", params=params, safe=True)
        return [parse_unit(u) for u in reply.json().get("units", [])]

    async def get_unit(self, unit_id: UnitId) -> Unit:
        reply = await self._call("GET", _path(unit_id), unit_id=unit_id, safe=True)
        return parse_unit(reply.json())

    async def delete_unit(self, unit_id: UnitId) -> None:
        await self._call("DELETE", _path(unit_id), unit_id=unit_id)

    async def undelete_unit(self, unit_id: UnitId) -> Unit:
        reply = await self._call("POST", _path(unit_id, "undelete"), unit_id=unit_id)
        return parse_unit(reply.json())

    # -- state ---------------------------------------------------------------

    async def download(self, unit_id: UnitId) -> tuple[StateVersion, bytes] | None:
        reply = await self._call("GET", _path(unit_id, "download"), unit_id=unit_id, safe=True)
        number = reply.headers.get("X-OpenTaco-Version")
        if number is None:
            return None
        try:
            version = await self._version_meta(unit_id, int(number))
        except VersionNotFound:
            # Pruned between the two calls: only many writes in between do that.
            raise ConcurrentUpdate(unit_id) from None
        return version, self._checked(version, reply.body)

    async def upload(
        self,
        unit_id: UnitId,
        data: Payload,
        *,
        lock_id: str | None = None,
        force: bool = False,
        surface: Surface = Surface.API,
        author: str = "",
        create_missing: bool = False,
    ) -> WriteResult:
        """Store a new current state. ``surface`` and ``author`` are decided by
        the server for remote writes (they record who really wrote), so they
        are accepted for the port's sake and not sent."""
        if create_missing:
            await self._ensure_unit(unit_id)
        params: dict[str, str] = {}
        if lock_id:
            params["if_locked_by"] = lock_id
        if force:
            params["force"] = "true"
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        reply = await self._call(
            "POST",
            _path(unit_id, "upload"),
            unit_id=unit_id,
            params=params,
            data=data,
            headers={"Content-Type": "application/json", "Content-MD5": md5},
        )
        doc = reply.json()
        version = await self._version_meta(unit_id, int(doc["version"]))
        return WriteResult(version, changed=bool(doc.get("changed", True)))

    # -- locks ---------------------------------------------------------------

    async def lock(
        self, unit_id: UnitId, wanted: LockInfo, *, create_missing: bool = False
    ) -> LockInfo:
        """Acquire the lock. A blank ID is filled in here rather than by the
        server, so a retried request re-locks with the same ID (idempotent)
        instead of conflicting with the lock its lost first attempt took."""
        if not wanted.id:
            wanted = attrs.evolve(wanted, id=str(uuid.uuid4()))
        if create_missing:
            await self._ensure_unit(unit_id)
        reply = await self._call(
            "POST",
            _path(unit_id, "lock"),
            unit_id=unit_id,
            json_body=lock_json(wanted),
            safe=True,
        )
        return parse_lock(reply.json())

    async def unlock(self, unit_id: UnitId, lock_id: str | None) -> None:
        if lock_id is None:
            await self._call(
                "DELETE",
                _path(unit_id, "unlock"),
                unit_id=unit_id,
                params={"force": "true"},
                safe=True,
            )
        else:
            await self._call(
                "DELETE",
                _path(unit_id, "unlock"),
                unit_id=unit_id,
                json_body={"id": lock_id},
                safe=True,
            )

    # -- history -------------------------------------------------------------

    async def list_versions(self, unit_id: UnitId) -> Sequence[StateVersion]:
        return [v async for v in self._walk_versions(unit_id)]

    async def read_version(self, unit_id: UnitId, number: int) -> tuple[StateVersion, bytes]:
        reply = await self._call(
            "GET",
            _path(unit_id, "versions", str(number)),
            unit_id=unit_id,
            number=number,
            safe=True,
        )
        version = await self._version_meta(unit_id, number)
        return version, self._checked(version, reply.body)

    async def restore(
        self, unit_id: UnitId, number: int, *, lock_id: str | None = None, author: str = ""
    ) -> StateVersion:
        """Make version ``number`` current again (``author`` is the server's to decide)."""
        body: dict[str, Any] = {"version": number}
        if lock_id:
            body["lock_id"] = lock_id
        reply = await self._call(
            "POST", _path(unit_id, "restore"), unit_id=unit_id, number=number, json_body=body
        )
        return parse_version(reply.json()["version"], unit_id)

    async def diff(
        self, unit_id: UnitId, from_version: int | None = None, to_version: int | None = None
    ) -> StateDiff:
        """The server's diff between two versions, as the core's ``StateDiff``."""
        params = {
            k: str(v) for k, v in (("from", from_version), ("to", to_version)) if v is not None
        }
        reply = await self._call(
            "GET",
            _path(unit_id, "diff"),
            unit_id=unit_id,
            number=to_version if from_version is None else from_version,
            params=params,
            safe=True,
        )
        return parse_diff(reply.json())

    # -- authentication (not part of StateControl) ----------------------------

    async def auth_config(self) -> AuthConfig:
        """How to log in to this server (``GET /v1/auth/config``, public)."""
        reply = await self._call("GET", "/v1/auth/config", safe=True, authenticate=False)
        doc = reply.json()

        def text(name: str) -> str:
            value = doc.get(name)
            return value if isinstance(value, str) else ""

        def texts(name: str) -> tuple[str, ...]:
            value = doc.get(name)
            return tuple(str(v) for v in value) if isinstance(value, list) else ()

        return AuthConfig(
            auth_enabled=bool(doc.get("auth_enabled", True)),
            oidc_enabled=bool(doc.get("oidc_enabled", bool(text("issuer")))),
            issuer=text("issuer"),
            client_id=text("client_id"),
            authorization_endpoint=text("authorization_endpoint"),
            token_endpoint=text("token_endpoint"),
            redirect_uris=texts("redirect_uris"),
            scopes=texts("scopes"),
        )

    async def exchange_id_token(self, id_token: str, *, nonce: str | None = None) -> IssuedTokens:
        """Trade an ID token from the server's OIDC provider for the server's
        own tokens. ``nonce`` is the one sent in the authorization request, so
        the server can tell this login's ID token from a captured one."""
        body: dict[str, str] = {"id_token": id_token}
        if nonce is not None:
            body["nonce"] = nonce
        reply = await self._call("POST", "/v1/auth/exchange", json_body=body, authenticate=False)
        return _issued(reply.json())

    async def refresh_tokens(self, refresh_token: str) -> IssuedTokens:
        """A new token pair for a refresh token, which is spent by the call
        (never retried: a resent refresh would look like a stolen token)."""
        reply = await self._call(
            "POST",
            "/v1/auth/token",
            json_body={"refresh_token": refresh_token},
            authenticate=False,
        )
        return _issued(reply.json())

    async def logout(self, refresh_token: str) -> None:
        """End the login session ``refresh_token`` belongs to (idempotent)."""
        await self._call(
            "POST",
            "/v1/auth/logout",
            json_body={"refresh_token": refresh_token},
            safe=True,
            authenticate=False,
        )

    async def me(self) -> Principal:
        """Who the server takes the caller for (``GET /v1/auth/me``)."""
        doc = (await self._call("GET", "/v1/auth/me", safe=True)).json()
        try:
            kind = PrincipalKind(str(doc.get("kind") or PrincipalKind.USER))
        except ValueError:
            kind = PrincipalKind.USER
        return Principal(
            subject=str(doc.get("subject") or ""),
            kind=kind,
            email=str(doc.get("email") or ""),
            groups=[str(g) for g in doc.get("groups") or []],
            token_id=str(doc.get("token_id") or ""),
        )

    async def create_api_token(self, name: str, *, expires_in: str | None = None) -> NewApiToken:
        """A new API token acting as the caller. ``expires_in`` is seconds or
        a duration such as ``"90d"``; without it the token lives until revoked.
        The secret is in the answer only: the server keeps its hash."""
        body: dict[str, Any] = {"name": name}
        if expires_in is not None:
            body["expires_in"] = int(expires_in) if expires_in.isdigit() else expires_in
        reply = await self._call("POST", "/v1/auth/tokens", json_body=body)
        doc = reply.json()
        return NewApiToken(parse_api_token(doc), str(doc["token"]))

    async def list_api_tokens(self) -> Sequence[ApiToken]:
        """The caller's API tokens (every token, for an admin); never a secret."""
        reply = await self._call("GET", "/v1/auth/tokens", safe=True)
        return [parse_api_token(t) for t in reply.json().get("tokens", [])]

    async def revoke_api_token(self, token_id: str) -> None:
        """Revoke an API token at once; ``TokenNotFound`` when the caller has
        no such token. Revoking twice is harmless, so it may be retried."""
        await self._call(
            "DELETE", f"/v1/auth/tokens/{quote(token_id, safe='')}", token_id=token_id, safe=True
        )

    # -- plumbing ------------------------------------------------------------

    async def _ensure_unit(self, unit_id: UnitId) -> None:
        with contextlib.suppress(UnitAlreadyExists):
            await self.create_unit(unit_id)

    async def _walk_versions(
        self, unit_id: UnitId, first_page: int = _PAGE
    ) -> AsyncIterator[StateVersion]:
        """Yield the history newest first, a page at a time."""
        offset, limit = 0, first_page
        while True:
            reply = await self._call(
                "GET",
                _path(unit_id, "versions"),
                unit_id=unit_id,
                params={"offset": str(offset), "limit": str(limit)},
                safe=True,
            )
            doc = reply.json()
            page = doc.get("versions", [])
            for entry in page:
                yield parse_version(entry, unit_id)
            offset += len(page)
            if not page or offset >= int(doc.get("total", 0)):
                return
            limit = _PAGE

    async def _version_meta(self, unit_id: UnitId, number: int) -> StateVersion:
        """Metadata of one version. The first page holds one entry because the
        version asked for is nearly always the newest (just written or current)."""
        async for version in self._walk_versions(unit_id, first_page=1):
            if version.number == number:
                return version
            if version.number < number:
                break  # newest first: it is not there
        raise VersionNotFound(unit_id, number)

    def _checked(self, version: StateVersion, data: bytes) -> bytes:
        if hashlib.sha256(data).hexdigest() != version.sha256:
            raise StorageUnavailable(
                f"state of unit {version.unit_id!r} version {version.number} from "
                f"{self.server} does not match its recorded SHA-256 (damaged in transit?)"
            )
        return data

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={
                    "Accept": "application/json",
                    "User-Agent": f"opentaco-sdk/{_package_version()}",
                },
            )
        return self._session

    async def _call(
        self,
        method: str,
        path: str,
        *,
        unit_id: str | None = None,
        number: int | None = None,
        token_id: str | None = None,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        data: Payload | None = None,
        headers: Mapping[str, str] | None = None,
        safe: bool = False,
        authenticate: bool = True,
    ) -> _Reply:
        """Send one request (retrying where safe) and return a 2xx reply, or
        raise the ``TacoError`` the server's answer stands for.

        With ``authenticate`` the credentials' token is sent, and a 401 to it
        gets one renewal and one resend (the server acted on nothing, so even
        a write may be resent); the public auth endpoints go without.
        """
        url = self.server + path
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        credentials = self._credentials if authenticate else None
        token = credentials.token() if credentials is not None else None
        renewed = False
        attempt = 0
        while True:
            sent = dict(headers or {})
            if token:
                sent["Authorization"] = f"Bearer {token}"
            try:
                reply = await self._send(method, url, params, data, sent)
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                # The connection was never made, so nothing was sent: any call may retry.
                failure: TacoError = ServerUnreachable(
                    f"cannot reach the OpenTaco server at {self.server}: {_reason(exc)}"
                )
                retry = True
            except (aiohttp.ClientError, TimeoutError) as exc:
                failure = StorageUnavailable(
                    f"the OpenTaco server at {self.server} did not answer {method} {path}: "
                    f"{_reason(exc)}"
                )
                retry = safe
            else:
                if reply.status < 400:
                    return reply
                if reply.status == 401 and token and credentials is not None and not renewed:
                    renewed = True
                    fresh = await self._renew(credentials, token)
                    if fresh is not None:
                        token = fresh
                        continue
                failure = _error_for(reply, self.server, _About(unit_id, number, token_id))
                retry = safe and reply.status in _TRANSIENT
            if not retry or attempt >= self._retries:
                raise failure
            await anyio.sleep(_BACKOFF * 2**attempt)
            attempt += 1

    async def _renew(self, credentials: Credentials, refused: str) -> str | None:
        """The token to resend with after ``refused`` got a 401, or ``None``."""
        async with self._renewing:
            if self._trace is not None:
                self._trace("token refused (401); renewing the login session")
            try:
                return await credentials.renew(refused, self.refresh_tokens)
            except Unauthenticated as exc:
                raise SessionExpired(
                    f"session expired: the login to {self.server} could not be renewed "
                    f"({exc.message})"
                ) from None

    async def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        data: Payload | None,
        headers: Mapping[str, str] | None,
    ) -> _Reply:
        trace = self._trace
        if trace is not None:
            query = "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""
            trace(f"> {method} {url}{query}")
        started = time.monotonic()
        async with self._client().request(
            method, url, params=params, data=data, headers=headers
        ) as response:
            body = await response.read()
            reply = _Reply(response.status, response.reason or "", response.headers, body)
        if trace is not None:
            elapsed = (time.monotonic() - started) * 1000
            trace(f"< {reply.status} {reply.reason} ({len(body)} bytes, {elapsed:.0f} ms)")
        return reply


def _path(unit_id: str, *rest: str) -> str:
    """``/v1/units/<id>[/<action>...]`` with the ID as one segment (``/`` as %2F),
    so an ID whose last segment is an action word cannot be misread."""
    return "/".join(("/v1/units", quote(unit_id, safe=""), *rest))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        errno = exc.os_error.errno
        return os.strerror(errno).lower() if errno else str(exc.os_error)
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


@attrs.frozen
class _About:
    """What a request was about, to rebuild the errors that carry it."""

    unit_id: str | None = None
    number: int | None = None
    token_id: str | None = None


@attrs.frozen
class _Answer:
    """An error answer, as the builders of ``_BY_KIND`` read it."""

    doc: dict[str, Any]
    message: str
    about: _About


_E = TypeVar("_E", bound=TacoError)


def _worded(error: _E, message: str) -> _E:
    """``error`` with the server's message: the server knew the details (a
    version number, a limit) the client rebuilt the error without."""
    error.message = message
    error.args = (message,)
    return error


def _lock_conflict(a: _Answer) -> TacoError:
    lock = a.doc.get("lock")
    if not isinstance(lock, dict):
        return Conflict(a.message)
    return LockConflict(a.about.unit_id or "", parse_lock(lock))


def _state_rejected(a: _Answer) -> TacoError:
    kept = a.doc.get("quarantined_version")
    reason = str(a.doc.get("reason") or a.message)
    return _worded(
        StateRejected(a.about.unit_id or "", reason, int(kept) if kept is not None else None),
        a.message,
    )


def _state_too_large(a: _Answer) -> TacoError:
    limit = re.search(r"(\d+) bytes", a.message)
    return _worded(StateTooLarge(int(limit.group(1)) if limit else 0), a.message)


def _kind_of(cls: type[TacoError]) -> str:
    """The ``kind`` the server sends for ``cls``: its name in snake case
    (``UnitNotFound`` -> ``unit_not_found``), as ``taco_http.errors.kind_of``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


# Errors that carry data are rebuilt from the answer and the request.
_BUILDERS: dict[type[TacoError], Callable[[_Answer], TacoError]] = {
    LockConflict: _lock_conflict,
    StateRejected: _state_rejected,
    StateTooLarge: _state_too_large,
    UnitNotFound: lambda a: _worded(UnitNotFound(a.about.unit_id or ""), a.message),
    VersionNotFound: lambda a: _worded(
        VersionNotFound(a.about.unit_id or "", a.about.number or 0), a.message
    ),
    UnitAlreadyExists: lambda a: _worded(UnitAlreadyExists(a.about.unit_id or ""), a.message),
    ConcurrentUpdate: lambda a: _worded(ConcurrentUpdate(a.about.unit_id or ""), a.message),
    TokenNotFound: lambda a: _worded(TokenNotFound(a.about.token_id or ""), a.message),
}
# Errors that are only a message.
_PLAIN: tuple[type[TacoError], ...] = (
    TacoError,
    InvalidInput,
    InvalidUnitId,
    InvalidState,
    ReservedUnitId,
    NotFound,
    Conflict,
    Unauthenticated,
    Forbidden,
    NotConfigured,
)
# Failures on the server's side: the message says which server failed.
_SERVER_SIDE: tuple[type[TacoError], ...] = (StorageUnavailable, IdentityProviderUnavailable)


def _plain(cls: type[TacoError]) -> Callable[[_Answer], TacoError]:
    def build(answer: _Answer) -> TacoError:
        return cls(answer.message)

    return build


_BY_KIND: dict[str, Callable[[_Answer], TacoError]] = {
    **{_kind_of(cls): build for cls, build in _BUILDERS.items()},
    **{_kind_of(cls): _plain(cls) for cls in _PLAIN},
}
_SERVER_SIDE_KINDS = {_kind_of(cls): cls for cls in _SERVER_SIDE}


def _error_for(reply: _Reply, server: str, about: _About) -> TacoError:
    """The one mapping from the server's error answers back to core errors.

    The answer's ``kind`` names the core class exactly. A server that sends
    no ``kind`` (an older one, or a proxy in front of it) is understood by
    status, and by comparing the message with freshly built instances, which
    tells apart errors that share a status (a missing unit and a missing
    version are both 404); what matches nothing specific keeps the right
    base class (``NotFound``, ``Conflict`` ...) and the server's words.
    """
    doc = reply.json()
    message = str(doc.get("error") or reply.body.decode("utf-8", "replace").strip())
    message = message or f"HTTP {reply.status} {reply.reason}"
    status = reply.status
    kind = doc.get("kind")
    if isinstance(kind, str):
        if kind in _SERVER_SIDE_KINDS:
            return _SERVER_SIDE_KINDS[kind](
                f"the OpenTaco server at {server} failed ({status} {reply.reason}): {message}"
            )
        build = _BY_KIND.get(kind)
        if build is not None:
            return build(_Answer(doc, message, about))
    return _error_by_status(reply, server, about, doc, message)


def _error_by_status(
    reply: _Reply, server: str, about: _About, doc: dict[str, Any], message: str
) -> TacoError:
    """``_error_for`` for answers without a (known) ``kind``."""
    status = reply.status
    answer = _Answer(doc, message, about)
    if status == 423 and isinstance(doc.get("lock"), dict):
        return _lock_conflict(answer)
    if status == 409 and ("reason" in doc or "quarantined_version" in doc):
        return _state_rejected(answer)
    if about.unit_id is not None:
        known: list[TacoError] = [
            UnitNotFound(about.unit_id),
            UnitAlreadyExists(about.unit_id),
            ConcurrentUpdate(about.unit_id),
        ]
        if about.number is not None:
            known.append(VersionNotFound(about.unit_id, about.number))
        for candidate in known:
            if candidate.message == message:
                return candidate
    if status == 413:
        return _state_too_large(answer)
    by_status: dict[int, type[TacoError]] = {
        400: InvalidInput,
        401: Unauthenticated,
        403: Forbidden,
        404: NotFound,
        409: Conflict,
    }
    if status in by_status:
        return by_status[status](message)
    if status >= 500:
        return StorageUnavailable(
            f"the OpenTaco server at {server} failed ({status} {reply.reason}): {message}"
        )
    return TacoError(f"the OpenTaco server at {server} answered {status} {reply.reason}: {message}")


# -- token pairs (the management API's other shapes: taco_adapters.wire) ------


def _issued(doc: Mapping[str, Any]) -> IssuedTokens:
    return IssuedTokens(
        access_token=str(doc["access_token"]),
        expires_in=int(doc.get("expires_in") or 0),
        refresh_token=str(doc.get("refresh_token") or ""),
        refresh_expires_in=int(doc.get("refresh_expires_in") or 0),
    )
