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
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import aiohttp
import anyio
import attrs
from multidict import CIMultiDictProxy

from taco_core.diff import OutputChange, ResourceChange, StateDiff
from taco_core.errors import (
    ConcurrentUpdate,
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
from taco_core.model import LockInfo, StateVersion, Surface, Unit, WriteResult
from taco_core.unit_id import UnitId, parse_unit_id, parse_user_unit_id

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
    and one per response (the CLI's ``--verbose``).
    """

    def __init__(
        self,
        server: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        trace: Trace | None = None,
    ) -> None:
        if not server.startswith(("http://", "https://")):
            raise InvalidInput(f"server URL must start with http:// or https://, got {server!r}")
        self.server = server.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retries = retries
        self._trace = trace
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
        created = _time(doc["created"])
        return Unit(
            id=UnitId(doc.get("id", unit_id)), created=created, updated=created, labels=labels
        )

    async def list_units(self, prefix: str = "", *, deleted: bool = False) -> Sequence[Unit]:
        params = {"prefix": prefix}
        if deleted:
            params["deleted"] = "true"
        reply = await self._call("GET", "/v1/units", params=params, safe=True)
        return [_unit(u) for u in reply.json().get("units", [])]

    async def get_unit(self, unit_id: UnitId) -> Unit:
        reply = await self._call("GET", _path(unit_id), unit_id=unit_id, safe=True)
        return _unit(reply.json())

    async def delete_unit(self, unit_id: UnitId) -> None:
        await self._call("DELETE", _path(unit_id), unit_id=unit_id)

    async def undelete_unit(self, unit_id: UnitId) -> Unit:
        reply = await self._call("POST", _path(unit_id, "undelete"), unit_id=unit_id)
        return _unit(reply.json())

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
        data: bytes,
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
            json_body=_lock_json(wanted),
            safe=True,
        )
        return _lock(reply.json())

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
        return _version(reply.json()["version"], unit_id)

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
        return _diff(reply.json())

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
                yield _version(entry, unit_id)
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
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        safe: bool = False,
    ) -> _Reply:
        """Send one request (retrying where safe) and return a 2xx reply, or
        raise the ``TacoError`` the server's answer stands for."""
        url = self.server + path
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        attempt = 0
        while True:
            try:
                reply = await self._send(method, url, params, data, headers)
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
                failure = _error_for(reply, self.server, unit_id, number)
                retry = safe and reply.status in _TRANSIENT
            if not retry or attempt >= self._retries:
                raise failure
            await anyio.sleep(_BACKOFF * 2**attempt)
            attempt += 1

    async def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
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


def _error_for(reply: _Reply, server: str, unit_id: str | None, number: int | None) -> TacoError:
    """The one mapping from the server's error answers back to core errors.

    The server renders each core error with the class's own message, so
    comparing with freshly built instances tells apart errors that share a
    status (a missing unit and a missing version are both 404) without
    parsing prose. An answer that matches nothing specific keeps the right
    base class (``NotFound``, ``Conflict`` ...) and the server's words.
    """
    doc = reply.json()
    message = str(doc.get("error") or reply.body.decode("utf-8", "replace").strip())
    message = message or f"HTTP {reply.status} {reply.reason}"
    status = reply.status
    uid = unit_id or ""
    if status == 423 and isinstance(doc.get("lock"), dict):
        return LockConflict(uid, _lock(doc["lock"]))
    if status == 409 and ("reason" in doc or "quarantined_version" in doc):
        kept = doc.get("quarantined_version")
        return StateRejected(
            uid, str(doc.get("reason", message)), int(kept) if kept is not None else None
        )
    if unit_id is not None:
        known: list[TacoError] = [
            UnitNotFound(unit_id),
            UnitAlreadyExists(unit_id),
            ConcurrentUpdate(unit_id),
        ]
        if number is not None:
            known.append(VersionNotFound(unit_id, number))
        for candidate in known:
            if candidate.message == message:
                return candidate
    if status == 413:
        limit = re.search(r"(\d+) bytes", message)
        return StateTooLarge(int(limit.group(1)) if limit else 0)
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


# -- JSON shapes of the management API (see docs/library.md) -------------------

_LOCK_FIELDS = ("id", "operation", "info", "who", "version", "created", "path")


def _lock_json(lock: LockInfo) -> dict[str, str]:
    return {name: getattr(lock, name) for name in _LOCK_FIELDS}


def _lock(doc: Mapping[str, Any]) -> LockInfo:
    lowered = {str(k).lower(): v for k, v in doc.items()}
    return LockInfo(**{n: str(lowered[n]) for n in _LOCK_FIELDS if lowered.get(n) is not None})


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _unit(doc: Mapping[str, Any]) -> Unit:
    lock = doc.get("lock")
    deleted_at = doc.get("deleted_at")
    return Unit(
        id=parse_unit_id(doc["id"]),
        created=_time(doc["created"]),
        updated=_time(doc["updated"]),
        size=int(doc.get("size", 0)),
        lock=_lock(lock) if isinstance(lock, dict) else None,
        labels={str(k): str(v) for k, v in (doc.get("labels") or {}).items()},
        head=doc.get("version"),
        deleted_at=_time(deleted_at) if deleted_at else None,
    )


def _version(doc: Mapping[str, Any], unit_id: UnitId) -> StateVersion:
    return StateVersion(
        unit_id=unit_id,
        number=int(doc["number"]),
        serial=doc.get("serial"),
        lineage=doc.get("lineage"),
        size=int(doc["size"]),
        sha256=str(doc["sha256"]),
        md5=str(doc["md5"]),
        created=_time(doc["created"]),
        author=str(doc.get("author") or ""),
        surface=str(doc.get("surface") or ""),
        quarantined=bool(doc.get("quarantined", False)),
        note=str(doc.get("note") or ""),
        restored_from=doc.get("restored_from"),
    )


def _diff(doc: dict[str, Any]) -> StateDiff:
    """The core's ``StateDiff`` from the server's diff JSON."""
    resources, outputs = doc["resources"], doc["outputs"]

    def output(o: dict[str, Any]) -> OutputChange:
        return OutputChange(o["name"], o["before"], o["after"], bool(o["sensitive"]))

    return StateDiff(
        from_version=doc["from_version"],
        to_version=doc["to_version"],
        from_serial=doc["from_serial"],
        to_serial=doc["to_serial"],
        resources_added=tuple(resources["added"]),
        resources_removed=tuple(resources["removed"]),
        resources_changed=tuple(
            ResourceChange(c["address"], tuple(c["changed_attributes"]))
            for c in resources["changed"]
        ),
        outputs_added=tuple(output(o) for o in outputs["added"]),
        outputs_removed=tuple(output(o) for o in outputs["removed"]),
        outputs_changed=tuple(output(o) for o in outputs["changed"]),
    )
