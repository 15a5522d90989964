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

from taco_adapters.wire import lock_from_json, terraform_lock_json
from taco_core.caller import Caller
from taco_core.errors import InvalidInput, UnitNotFound
from taco_core.model import Surface, UnitId
from taco_core.state_doc import md5_base64
from taco_core.unit_id import parse_unit_id
from taco_http.auth import caller_of
from taco_http.body import SMALL_BODY, parse_json_object, read_body, read_json_object, verified_md5
from taco_http.context import services_of
from taco_http.methods import pick
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
    data = await read_body(request, service.policy.max_state_bytes)
    await service.upload(
        _caller(request),
        unit_id,
        data,
        lock_id=_lock_id_of(request),
        create_missing=True,
        known_md5=verified_md5(request),
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
