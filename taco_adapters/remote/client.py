"""``RemoteStateControl``: the ``StateControl`` port over HTTP, for a running ``opentacosvc``.

Front ends written against ``StateControl`` (the ``taco`` CLI, a Terraform
provider, custom tooling) run unchanged against this client or against the
embedded ``StateService``; both raise the core's ``TacoError`` classes, so a
caller handles a lock conflict the same way whether it crossed a network or
not. Every request and answer is a shape of ``taco_adapters.wire``, and the
HTTP side (session, timeouts, retries, tokens) is the ``Transport``'s.

Which calls may be retried (``safe``): reads, a lock with the client-chosen
ID (re-locking with the holder's ID is idempotent), unlock and a labels update. An upload,
create, delete or restore is never sent twice. A write's answer and a
download's headers carry the version record, and downloaded bytes are checked
against its SHA-256.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from urllib.parse import parse_qs, quote, urlsplit

import attrs

from taco_adapters.remote.transport import RemoteClient
from taco_adapters.wire import (
    VERSION_HEADER,
    CreateUnitRequest,
    RestoreRequest,
    UnlockRequest,
    UpdateLabelsRequest,
    created_unit_from_json,
    diff_from_json,
    held_lock_from_json,
    lock_json,
    request_json,
    restored_from_json,
    unit_from_json,
    units_from_json,
    upload_from_json,
    version_from_headers,
    version_from_json,
)
from taco_core.diff import StateDiff
from taco_core.errors import StorageUnavailable, UnitAlreadyExists
from taco_core.model import LockInfo, Payload, StateVersion, Unit, UnitId, WriteResult
from taco_core.unit_id import parse_user_unit_id

# Page size when walking the history; the server accepts any limit.
_PAGE = 500


class RemoteStateControl(RemoteClient):
    """``StateControl`` implemented as an HTTP client of ``opentacosvc``.

    ``server`` is the base URL (``http://localhost:8080``). ``timeout`` bounds
    each request in seconds (each attempt, when a safe call is retried up to
    ``retries`` times). ``trace``, when given, receives one line per request
    and one per response (the CLI's ``--verbose``). ``credentials`` supplies
    the Bearer token of every request (``StaticToken("otc_...")`` for an API
    token); without it requests are anonymous, which only a server with
    authentication disabled accepts. Use it as ``async with`` or call
    ``aclose()``.
    """

    # -- units ---------------------------------------------------------------

    async def create_unit(self, raw_id: str, labels: Mapping[str, str] | None = None) -> Unit:
        # Validated here too, so a bad ID fails with the same error class as
        # embedded and before any network round trip.
        unit_id = parse_user_unit_id(raw_id)
        request = CreateUnitRequest(unit_id, dict(labels or {}))
        reply = await self._http.call("POST", "/v1/units", json_body=request_json(request))
        return created_unit_from_json(reply.json(), unit_id, labels)

    # Units per page of a listing (keyset pagination, followed to the end).
    units_page = 1000

    async def list_units(self, prefix: str = "", *, deleted: bool = False) -> Sequence[Unit]:
        """Every unit under ``prefix``, read a page at a time: each request
        stays small however many units there are. (Deleted units come in one
        answer; a server without pagination answers everything at once.)"""
        params = {"prefix": prefix}
        if deleted:
            params["deleted"] = "true"
        else:
            params["limit"] = str(self.units_page)
        units: list[Unit] = []
        while True:
            reply = await self._http.call("GET", "/v1/units", params=params, safe=True)
            doc = reply.json()
            units += units_from_json(doc)
            link = doc.get("next")
            if not isinstance(link, str):
                return units
            after = parse_qs(urlsplit(link).query).get("after")
            if not after or after[0] == params.get("after"):
                return units  # no progress: never loop
            params["after"] = after[0]

    async def get_unit(self, unit_id: UnitId) -> Unit:
        reply = await self._http.call("GET", _path(unit_id), safe=True)
        return unit_from_json(reply.json())

    async def update_labels(self, unit_id: UnitId, changes: Mapping[str, str | None]) -> Unit:
        """``PATCH`` the unit's labels: only the keys named change. Each is set
        to a value or removed, so sending it twice is sending it once: it is
        retried like a read."""
        body = request_json(UpdateLabelsRequest(dict(changes)))
        reply = await self._http.call("PATCH", _path(unit_id), json_body=body, safe=True)
        return unit_from_json(reply.json())

    async def delete_unit(self, unit_id: UnitId) -> None:
        await self._http.call("DELETE", _path(unit_id))

    async def undelete_unit(self, unit_id: UnitId) -> Unit:
        reply = await self._http.call("POST", _path(unit_id, "undelete"))
        return unit_from_json(reply.json())

    # -- state ---------------------------------------------------------------

    async def download(self, unit_id: UnitId) -> tuple[StateVersion, bytes] | None:
        reply = await self._http.call("GET", _path(unit_id, "download"), safe=True)
        if VERSION_HEADER not in reply.headers:
            return None
        return self._checked(unit_id, reply.headers, reply.body)

    async def upload(
        self,
        unit_id: UnitId,
        data: Payload,
        *,
        lock_id: str | None = None,
        force: bool = False,
        create_missing: bool = False,
    ) -> WriteResult:
        """Store a new current state; the server records who wrote it (from
        the token) and through which surface."""
        if create_missing:
            await self._ensure_unit(unit_id)
        params: dict[str, str] = {}
        if lock_id:
            params["if_locked_by"] = lock_id
        if force:
            params["force"] = "true"
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        reply = await self._http.call(
            "POST",
            _path(unit_id, "upload"),
            params=params,
            data=data,
            headers={"Content-Type": "application/json", "Content-MD5": md5},
        )
        return upload_from_json(reply.json(), unit_id)

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
        reply = await self._http.call(
            "POST", _path(unit_id, "lock"), json_body=lock_json(wanted), safe=True
        )
        return held_lock_from_json(reply.json())

    async def unlock(self, unit_id: UnitId, lock_id: str | None) -> None:
        path = _path(unit_id, "unlock")
        if lock_id is None:
            await self._http.call("DELETE", path, params={"force": "true"}, safe=True)
        else:
            body = request_json(UnlockRequest(lock_id))
            await self._http.call("DELETE", path, json_body=body, safe=True)

    # -- history -------------------------------------------------------------

    async def list_versions(self, unit_id: UnitId) -> Sequence[StateVersion]:
        return [v async for v in self._walk_versions(unit_id)]

    async def read_version(self, unit_id: UnitId, number: int) -> tuple[StateVersion, bytes]:
        reply = await self._http.call("GET", _path(unit_id, "versions", str(number)), safe=True)
        return self._checked(unit_id, reply.headers, reply.body)

    async def restore(
        self, unit_id: UnitId, number: int, *, lock_id: str | None = None
    ) -> StateVersion:
        """Make version ``number`` current again (the server records who did)."""
        body = request_json(RestoreRequest(version=number, lock_id=lock_id or None))
        reply = await self._http.call("POST", _path(unit_id, "restore"), json_body=body)
        return restored_from_json(reply.json(), unit_id)

    async def diff(
        self, unit_id: UnitId, from_version: int | None = None, to_version: int | None = None
    ) -> StateDiff:
        """The server's diff between two versions, as the core's ``StateDiff``."""
        params = {
            k: str(v) for k, v in (("from", from_version), ("to", to_version)) if v is not None
        }
        reply = await self._http.call("GET", _path(unit_id, "diff"), params=params, safe=True)
        return diff_from_json(reply.json())

    # -- plumbing ------------------------------------------------------------

    async def _ensure_unit(self, unit_id: UnitId) -> None:
        with contextlib.suppress(UnitAlreadyExists):
            await self.create_unit(unit_id)

    async def _walk_versions(self, unit_id: UnitId) -> AsyncIterator[StateVersion]:
        """Yield the history newest first, a page at a time."""
        offset = 0
        while True:
            reply = await self._http.call(
                "GET",
                _path(unit_id, "versions"),
                params={"offset": str(offset), "limit": str(_PAGE)},
                safe=True,
            )
            doc = reply.json()
            page = doc.get("versions", [])
            for entry in page:
                yield version_from_json(entry, unit_id)
            offset += len(page)
            if not page or offset >= int(doc.get("total", 0)):
                return

    def _checked(
        self, unit_id: UnitId, headers: Mapping[str, str], data: bytes
    ) -> tuple[StateVersion, bytes]:
        """The version record the headers carry, and ``data`` if it is that
        version's bytes (a body damaged in transit is refused, not returned)."""
        version = version_from_headers(headers, unit_id)
        if version is None:
            raise StorageUnavailable(
                f"the OpenTaco server at {self.server} sent a state without its version "
                "record; it is older than this client"
            )
        if hashlib.sha256(data).hexdigest() != version.sha256:
            raise StorageUnavailable(
                f"state of unit {version.unit_id!r} version {version.number} from "
                f"{self.server} does not match its recorded SHA-256 (damaged in transit?)"
            )
        return version, data


def _path(unit_id: str, *rest: str) -> str:
    """``/v1/units/<id>[/<action>...]`` with the ID as one segment (``/`` as %2F),
    so an ID whose last segment is an action word cannot be misread."""
    return "/".join(("/v1/units", quote(unit_id, safe=""), *rest))
