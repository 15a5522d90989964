"""One HTTP session to one ``opentacosvc``: what every remote call shares.

Why it behaves as it does:

- One ``aiohttp.ClientSession``, created lazily inside the event loop that
  uses it (sessions are bound to their loop); ``aclose`` ends it.
- Every call has a timeout, so a hung server cannot hang a script.
- Retries happen only where repeating cannot change the outcome: calls the
  caller marks ``safe`` (reads, and calls the server treats as idempotent),
  and any call whose connection was never established (nothing was sent).
- The Bearer token comes from a ``Credentials`` object; when the server
  refuses it (401) the credentials may renew the login session once per
  request. A 401 means the server did not act on the request, so resending it
  after a renewal is safe even for an upload.
- An error answer becomes the core's ``TacoError`` in one place
  (``taco_adapters.remote.errors``); nothing aiohttp-specific escapes.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self

import aiohttp
import anyio
import attrs
from multidict import CIMultiDictProxy

from taco_adapters.remote.credentials import Credentials
from taco_adapters.remote.errors import ServerUnreachable, SessionExpired, error_for
from taco_adapters.wire import RefreshRequest, issued_tokens_from_json, request_json
from taco_core.auth import IssuedTokens
from taco_core.errors import InvalidInput, StorageUnavailable, TacoError, Unauthenticated
from taco_core.model import Payload

DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 2
# Pause before retry n is _BACKOFF * 2**n: short, because the usual cause is a
# server restarting, and a CLI user is waiting.
_BACKOFF = 0.1
# Answers worth retrying for a safe call: the server or a proxy in front of it
# is momentarily unable to serve.
_TRANSIENT = frozenset({502, 503, 504})

Trace = Callable[[str], None]


def _package_version() -> str:
    try:
        return importlib.metadata.version("opentaco")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


@attrs.frozen
class Reply:
    """A successful answer: status, headers and the whole body."""

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


class Transport:
    """Sends requests to ``server`` (a base URL such as ``http://localhost:8080``).

    ``timeout`` bounds each request in seconds (each attempt, when a safe call
    is retried up to ``retries`` times). ``trace``, when given, receives one
    line per request and one per response. ``credentials`` supplies the Bearer
    token of every request; without it requests are anonymous.
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

    async def aclose(self) -> None:
        """Close the HTTP session; a later call opens a new one."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        """A new token pair for a refresh token, which is spent by the call
        (never retried: a resent refresh would look like a stolen token)."""
        reply = await self.call(
            "POST",
            "/v1/auth/token",
            json_body=request_json(RefreshRequest(refresh_token)),
            authenticate=False,
        )
        return issued_tokens_from_json(reply.json())

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        data: Payload | None = None,
        headers: Mapping[str, str] | None = None,
        safe: bool = False,
        authenticate: bool = True,
    ) -> Reply:
        """Send one request (retrying where ``safe``) and return a 2xx reply,
        or raise the ``TacoError`` the server's answer stands for.

        With ``authenticate`` the credentials' token is sent, and a 401 to it
        gets one renewal and one resend; the public auth endpoints go without.
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
                failure = error_for(
                    reply.status,
                    reply.reason,
                    reply.json(),
                    reply.body.decode("utf-8", "replace"),
                    self.server,
                )
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
                return await credentials.renew(refused, self.refresh)
            except Unauthenticated as exc:
                raise SessionExpired(
                    f"session expired: the login to {self.server} could not be renewed "
                    f"({exc.message})"
                ) from None

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

    async def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        data: Payload | None,
        headers: Mapping[str, str] | None,
    ) -> Reply:
        trace = self._trace
        if trace is not None:
            query = "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""
            trace(f"> {method} {url}{query}")
        started = time.monotonic()
        async with self._client().request(
            method, url, params=params, data=data, headers=headers
        ) as response:
            body = await response.read()
            reply = Reply(response.status, response.reason or "", response.headers, body)
        if trace is not None:
            elapsed = (time.monotonic() - started) * 1000
            trace(f"< {reply.status} {reply.reason} ({len(body)} bytes, {elapsed:.0f} ms)")
        return reply


class RemoteClient:
    """What both clients of a server share: one ``Transport``, closed by
    ``aclose()`` or at the end of ``async with`` (a later call opens a new
    session). Arguments as ``Transport``'s."""

    def __init__(
        self,
        server: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        trace: Trace | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self._http = Transport(
            server, timeout=timeout, retries=retries, trace=trace, credentials=credentials
        )
        self.server = self._http.server

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
        """Close the HTTP session."""
        await self._http.aclose()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        errno = exc.os_error.errno
        return os.strerror(errno).lower() if errno else str(exc.os_error)
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
