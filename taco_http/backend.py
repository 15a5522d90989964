"""Terraform's HTTP backend at ``/v1/backend/{unit-id}``.

What real Terraform sends (1.0.3 through 1.15) decides the details: LOCK and
UNLOCK succeed only on exactly 200; a conflict answers 423 with the holder's
LockInfo, which Terraform prints; ``terraform force-unlock`` sends UNLOCK with
an empty body and never the ID, so an empty UNLOCK is a forced unlock; the
write's lock ID comes as ``?ID=``. Writes and locks create the unit on first
use, as Terraform users expect of a backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from taco_adapters.wire import TERRAFORM_LOCK_NAMES, lock_from_json, terraform_lock_json
from taco_core.caller import Caller
from taco_core.errors import InvalidInput, UnitNotFound
from taco_core.model import LockInfo, Surface, UnitId
from taco_core.state_doc import md5_base64
from taco_core.unit_id import parse_unit_id
from taco_http.auth import caller_of
from taco_http.body import (
    SMALL_BODY,
    claimed_md5,
    parse_json_object,
    read_body,
    read_json_object,
)
from taco_http.context import services_of
from taco_http.methods import pick
from taco_http.operations import STATE, Json, Operation, Param, Reply, errors, unit_id_param
from taco_http.streaming import state_answer


def _caller(request: Request) -> Caller:
    return caller_of(request, Surface.BACKEND)


def _unit_id(request: Request) -> UnitId:
    return parse_unit_id(request.path_params["unit_id"])


def _lock_id_of(request: Request) -> str | None:
    return (
        request.headers.get("x-terraform-lock-id")
        or request.query_params.get("ID")
        or request.query_params.get("id")
        or None
    )


async def backend(request: Request) -> Response:
    # Looked up, never fallen through to: HEAD is a read, an unknown method 405.
    handler = pick(request.method, _HANDLERS)
    return await handler(request, _unit_id(request))


async def _get(request: Request, unit_id: UnitId) -> Response:
    try:
        found = await services_of(request).states.open_download(_caller(request), unit_id)
    except UnitNotFound:
        found = None
    if found is None:
        # Terraform reads 404 as "no state yet"; the body must stay empty.
        return Response(status_code=404)
    version, reader = found
    return await state_answer(request, version, reader, {"Content-MD5": md5_base64(version.md5)})


async def _put(request: Request, unit_id: UnitId) -> Response:
    service = services_of(request).states
    data = await read_body(request, service.policy.max_state_bytes, check_md5=False)
    await service.upload(
        _caller(request),
        unit_id,
        data,
        lock_id=_lock_id_of(request),
        create_missing=True,
        expected_md5=claimed_md5(request),
    )
    return Response(status_code=200)


async def _lock(request: Request, unit_id: UnitId) -> Response:
    wanted = lock_from_json(await read_json_object(request, "LockInfo"))
    held = await services_of(request).states.lock(
        _caller(request), unit_id, wanted, create_missing=True
    )
    return JSONResponse(terraform_lock_json(held), status_code=200)


async def _delete(request: Request, unit_id: UnitId) -> Response:
    await services_of(request).states.delete_unit(_caller(request), unit_id)
    return Response(status_code=200)


async def _unlock(request: Request, unit_id: UnitId) -> Response:
    body = await read_body(request, SMALL_BODY, "LockInfo")
    header = request.headers.get("x-terraform-lock-id") or None
    if not body.strip():
        # `terraform force-unlock` sends an empty body and never the ID it was
        # given: only that is a forced unlock (or the ID in the header).
        lock_id = header
    else:
        lock_id = lock_from_json(parse_json_object(body, "LockInfo")).id or header
        if not lock_id:
            raise InvalidInput(
                'the LockInfo names no lock: send its "ID", or an empty body to force the unlock'
            )
    # A unit that does not exist holds no lock, so the caller's goal already holds.
    with contextlib.suppress(UnitNotFound):
        await services_of(request).states.unlock(_caller(request), unit_id, lock_id)
    return Response(status_code=200)


_HANDLERS: dict[str, Callable[[Request, UnitId], Awaitable[Response]]] = {
    "GET": _get,
    "POST": _put,
    "PUT": _put,
    "LOCK": _lock,
    "UNLOCK": _unlock,
    "DELETE": _delete,
}


# -- the API description (taco_http.openapi) ----------------------------------

_TAG = "backend"
_PATH = "/v1/backend/{id}"
_ID = unit_id_param("the unit's ID: the whole rest of the path, slashes included")
# Terraform's fields only: ``owner`` is ours, never sent to or taken from Terraform.
_HELD = Json(LockInfo, name="TerraformLockInfo", rename=TERRAFORM_LOCK_NAMES, omit=("owner",))
_WANTED = Json(
    LockInfo,
    name="TerraformLockRequest",
    rename=TERRAFORM_LOCK_NAMES,
    omit=("owner",),
    optional=True,
    open=True,
)
_LOCKED = Reply(423, "the unit is locked by someone else: the holder's LockInfo", _HELD)
_LOCK_ID = (
    Param("ID", "query", "the lock ID the write is made under (what Terraform sends)"),
    Param("id", "query", "the lock ID, lowercase spelling"),
    Param("X-Terraform-Lock-ID", "header", "the lock ID, as a header"),
)
_IF_NONE_MATCH = Param(
    "If-None-Match", "header", "ETags the client holds: 304 without the body when one matches"
)
_CONTENT_MD5 = Param(
    "Content-MD5", "header", "the body's MD5, base64 (Terraform sends it): checked, 400 if wrong"
)
_STATE_HEADERS = {
    "Content-MD5": "the state's MD5, base64",
    "ETag": "strong validator: the SHA-256 of the bytes sent",
}

OPERATIONS = (
    Operation(
        "GET",
        _PATH,
        "Read the current state",
        _TAG,
        description="HEAD answers the same headers without the body.",
        params=(_ID, _IF_NONE_MATCH),
        replies=(
            Reply(200, "the state", STATE, _STATE_HEADERS),
            Reply(304, "the client's copy is current (If-None-Match); empty body"),
            Reply(404, "no state yet (the unit does not exist or was never written); empty body"),
            *errors(400),
        ),
    ),
    *(
        Operation(
            method,
            _PATH,
            "Write the state",
            _TAG,
            description="Creates the unit on first use. While it is locked, only the "
            "holder's lock ID may write. The clobber guard applies (409; the refused state is "
            "kept in quarantine).",
            params=(_ID, *_LOCK_ID, _CONTENT_MD5),
            body=STATE,
            body_required=True,
            replies=(Reply(200, "stored; empty body"), *errors(400, 409, 413), _LOCKED),
        )
        for method in ("POST", "PUT")
    ),
    Operation(
        "LOCK",
        _PATH,
        "Lock the unit (Terraform's LockInfo)",
        _TAG,
        description="Creates the unit on first use. A missing ID gets a fresh UUID, a missing "
        "Created the server's time; locking again with the holder's ID is idempotent.",
        params=(_ID,),
        body=_WANTED,
        replies=(Reply(200, "locked: the lock held", _HELD), *errors(400), _LOCKED),
    ),
    Operation(
        "UNLOCK",
        _PATH,
        "Unlock the unit",
        _TAG,
        description="With the holder's LockInfo (its ID; a LockInfo without one is 400); an "
        "empty body is a forced unlock (terraform force-unlock). Unlocking an unlocked unit "
        "is 200.",
        params=(_ID, _LOCK_ID[2]),
        body=_WANTED,
        replies=(Reply(200, "unlocked; empty body"), *errors(400), _LOCKED),
    ),
    Operation(
        "DELETE",
        _PATH,
        "Soft-delete the unit",
        _TAG,
        description="Recoverable during the delete grace period (POST /v1/units/{id}/undelete).",
        params=(_ID,),
        replies=(Reply(200, "deleted; empty body"), *errors(400, 404), _LOCKED),
    ),
)
