"""GetObject, HeadObject, PutObject and DeleteObject on states and their lockfiles.

A state key is the unit's current state: reads go through
``StateService.download`` (RBAC, outputs-only redaction), writes through
``StateService.upload`` with ``owned_lock`` (Terraform's s3 backend cannot
name its lock on a write, so the caller's own lock lets it write and anyone
else's refuses it) and the normal commit (history, clobber guard, events).
Deleting a state soft-deletes its unit, as ``terraform workspace delete``
expects.

A ``.tflock`` key is the unit's lock, the same one the HTTP backend's LOCK
and ``taco unit lock`` take: putting it (Terraform sends ``If-None-Match:
*``) acquires it, atomically, and a held lock answers ``412
PreconditionFailed``, on which Terraform reads the ``.tflock`` and prints
the holder; deleting it unlocks (Terraform compares the lock ID itself
first, and ``force-unlock`` deletes it outright).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
from datetime import UTC, datetime

from starlette.responses import Response

from taco_adapters.wire import lock_from_json, terraform_lock_json
from taco_core.errors import LockConflict, UnitNotFound
from taco_core.model import LockInfo, Payload
from taco_http.body import SMALL_BODY, parse_json_object
from taco_http.s3_endpoint.call import S3Call
from taco_http.s3_endpoint.errors import s3_error_of
from taco_http.s3_endpoint.mapping import ObjectKind, ObjectRef
from taco_http.s3api import Checksum, checksum_mode_enabled, response_checksum_headers
from taco_http.s3api.errors import (
    InvalidRange,
    NoSuchKey,
    NotImplementedS3,
    PreconditionFailed,
)
from taco_http.streaming import state_response

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def http_date(value: datetime) -> str:
    """A time as HTTP headers write it (``Last-Modified``)."""
    return email.utils.format_datetime(value.astimezone(UTC), usegmt=True)


def etag_of(data: Payload) -> str:
    """S3's ETag of an object uploaded whole: its MD5, hex, quoted."""
    return f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The first and last byte a ``Range`` header asks for, or ``None`` for
    the whole object (no header, or one S3 ignores: several ranges, or a
    malformed one). ``InvalidRange`` when it starts past the end."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or not (match[1] or match[2]):
        return None
    if match[1]:
        start = int(match[1])
        end = int(match[2]) if match[2] else max(start, size - 1)
        if end < start:
            return None
    else:
        suffix = int(match[2])
        # "bytes=-0" asks for no byte at all, which S3 refuses.
        start, end = (max(0, size - suffix) if suffix else size), size - 1
    if start >= size:
        raise InvalidRange(ActualObjectSize=str(size), RangeRequested=header.strip())
    return start, min(end, size - 1)


def _check_conditions(call: S3Call, etag: str) -> Response | None:
    """``If-Match`` (else 412) and ``If-None-Match`` (else 304) on a read."""
    if_match = call.request.header("if-match")
    if if_match is not None and if_match.strip() not in ("*", etag):
        raise PreconditionFailed(Condition="If-Match")
    if_none_match = call.request.header("if-none-match")
    if if_none_match is not None and if_none_match.strip() in ("*", etag):
        return Response(status_code=304, headers={"ETag": etag})
    return None


async def _object_response(
    call: S3Call, data: Payload, etag: str, modified: datetime, *, head: bool
) -> Response:
    """The object (or, for HEAD, its headers), whole or the range asked for."""
    unchanged = _check_conditions(call, etag)
    if unchanged is not None:
        return unchanged
    size = len(data)
    headers = {
        "ETag": etag,
        "Last-Modified": http_date(modified),
        "Accept-Ranges": "bytes",
    }
    wanted = byte_range(call.request.header("range"), size)
    start, end = wanted if wanted is not None else (0, size - 1)
    # The checksum is of the whole object: a client checks the body it gets
    # against it, so only an answer that carries all of it may name it.
    if checksum_mode_enabled(call.request) and (start, end) == (0, size - 1):
        headers.update(await response_checksum_headers(data))
    status = 200
    body = data
    if wanted is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        body = data[start : end + 1]
    if head:
        headers["Content-Length"] = str(len(body))
        return Response(status_code=status, media_type="application/json", headers=headers)
    return state_response(body, headers, status_code=status)


def _lock_modified(lock: LockInfo, fallback: datetime) -> datetime:
    try:
        return datetime.fromisoformat(lock.created)
    except ValueError:
        return fallback


async def get_object(call: S3Call, ref: ObjectRef, *, head: bool) -> Response:
    """GetObject / HeadObject of a state or a lockfile."""
    try:
        if ref.kind is ObjectKind.LOCK:
            unit = await call.states.get_unit(call.caller, ref.unit_id)
            if unit.lock is None:
                raise NoSuchKey(f"Unit {ref.unit_id!r} is not locked.", Key=ref.key)
            body = json.dumps(terraform_lock_json(unit.lock)).encode()
            modified = _lock_modified(unit.lock, unit.updated)
            return await _object_response(call, body, etag_of(body), modified, head=head)
        found = await call.states.download(call.caller, ref.unit_id)
    except UnitNotFound:
        raise NoSuchKey(f"There is no unit {ref.unit_id!r}.", Key=ref.key) from None
    if found is None:
        raise NoSuchKey(f"Unit {ref.unit_id!r} has no state yet.", Key=ref.key)
    version, data = found
    return await _object_response(call, data, f'"{version.md5}"', version.created, head=head)


def _stored(data: Payload, checksum: Checksum | None) -> dict[str, str]:
    """The headers of a PutObject answer: the ETag, and the checksum it held."""
    headers = {"ETag": etag_of(data)}
    if checksum is not None:
        headers[checksum.algorithm.header] = checksum.value
    return headers


async def put_object(call: S3Call, ref: ObjectRef) -> Response:
    """PutObject of a state (a new version) or a lockfile (the lock)."""
    if ref.kind is ObjectKind.LOCK:
        return await _put_lock(call, ref)
    if call.request.header("if-match") is not None or call.request.header("if-none-match"):
        raise NotImplementedS3(
            "Conditional writes of a state are not implemented: its lock (the .tflock "
            "object) guards it."
        )
    received = await call.payload(call.states.policy.max_state_bytes)
    await call.states.upload(
        call.caller, ref.unit_id, received.data, owned_lock=True, create_missing=True
    )
    return Response(status_code=200, headers=_stored(received.data, received.checksum))


async def _put_lock(call: S3Call, ref: ObjectRef) -> Response:
    if call.request.header("if-match") is not None:
        raise NotImplementedS3("If-Match is not implemented on a lockfile; use If-None-Match: *.")
    condition = call.request.header("if-none-match")
    if condition is not None and condition.strip() != "*":
        raise NotImplementedS3("Only If-None-Match: * is implemented on a lockfile.")
    received = await call.payload(SMALL_BODY)
    wanted = lock_from_json(parse_json_object(received.data, "the lockfile (Terraform's LockInfo)"))
    try:
        await call.states.lock(call.caller, ref.unit_id, wanted, create_missing=True)
    except LockConflict as exc:
        raise s3_error_of(exc, locking=True) from None
    return Response(status_code=200, headers=_stored(received.data, received.checksum))


async def delete_object(call: S3Call, ref: ObjectRef) -> Response:
    """DeleteObject: unlock for a lockfile, soft-delete the unit for a state.
    Deleting what is not there succeeds, as in S3."""
    try:
        if ref.kind is ObjectKind.LOCK:
            unit = await call.states.get_unit(call.caller, ref.unit_id)
            if unit.lock is not None:
                # The owner's own release is recorded as such; anyone else's
                # delete (force-unlock) is a forced unlock.
                own = unit.lock.owner and unit.lock.owner == call.caller.principal.owner_key
                await call.states.unlock(call.caller, ref.unit_id, unit.lock.id if own else None)
        else:
            await call.states.delete_unit(call.caller, ref.unit_id)
    except UnitNotFound:
        pass
    return Response(status_code=204)
