"""The management API under ``/v1/units``.

Unit IDs contain ``/``, so an ID in a path may arrive raw
(``/v1/units/myapp/prod/lock``), percent-encoded (``myapp%2Fprod``) or in the
reference tools' ``__`` encoding (``myapp__prod``). The path is split on its
*raw* slashes, so ``%2F`` stays inside the ID; a trailing action word
(``download``, ``lock``, ...) is the action. A unit whose last segment is an
action word is addressed with ``%2F`` or ``__`` instead of a raw slash.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from urllib.parse import unquote, urlencode

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from taco_adapters.wire import (
    QUARANTINED_HEADER,
    RECORD_HEADER,
    VERSION_HEADER,
    CreatedUnitDoc,
    CreateUnitRequest,
    DiffDoc,
    MessageDoc,
    RestoredDoc,
    RestoreRequest,
    UnitDoc,
    UnitListDoc,
    UpdateLabelsRequest,
    UploadDoc,
    VersionPageDoc,
    created_unit_json,
    diff_json,
    lock_from_json,
    lock_json,
    restored_json,
    structure,
    unit_json,
    units_document,
    upload_json,
    version_headers,
    versions_page_json,
)
from taco_core.caller import Caller
from taco_core.errors import InvalidInput, NotFound, UnitNotFound
from taco_core.history import current_at
from taco_core.model import MAX_NUMBER, LockInfo, Surface, UnitId
from taco_core.unit_id import decode_path_id
from taco_http import graph_routes
from taco_http.auth import SURFACE_KEY, caller_of
from taco_http.body import claimed_md5, read_body, read_json_object
from taco_http.context import services_of
from taco_http.methods import pick
from taco_http.operations import (
    STATE,
    Json,
    Operation,
    Param,
    Reply,
    errors,
    ok,
    unit_id_param,
)
from taco_http.streaming import state_answer, state_response
from taco_http.telemetry import ROUTE_TEMPLATE_KEY

Handler = Callable[[Request, UnitId, str | None], Awaitable[Response]]

# The path templates of the operations (taco_http.openapi), which metrics use too.
_UNIT = "/v1/units/{id}"
_VERSION = "/v1/units/{id}/versions/{n}"


def _caller(request: Request) -> Caller:
    return caller_of(request, Surface.API)


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "").lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise InvalidInput(f"query parameter {name!r} must be true or false, got {value!r}")


async def create_unit(request: Request) -> Response:
    doc = await read_json_object(request, "request body")
    req = structure(doc, CreateUnitRequest, "unit")
    unit = await services_of(request).states.create_unit(_caller(request), req.id, req.labels)
    return JSONResponse(created_unit_json(unit), status_code=201)


async def list_units(request: Request) -> Response:
    """All units (the reference's shape), or with ``?limit=`` one page of
    them after ``?after=`` (keyset pagination: stable while units come and
    go) and the link to the next page in ``next`` and a ``Link`` header."""
    prefix = request.query_params.get("prefix", "")
    raw_limit = request.query_params.get("limit")
    limit = None if raw_limit in (None, "") else _int_param(request, "limit", 0)
    after = request.query_params.get("after", "")
    page = await services_of(request).states.list_unit_documents(
        _caller(request), prefix, deleted=_flag(request, "deleted"), after=after, limit=limit
    )
    next_link = None
    if page.next_after is not None:
        query = {"limit": str(limit), "after": page.next_after}
        if prefix:
            query["prefix"] = prefix
        next_link = f"{request.url.path}?{urlencode(query)}"
    if len(page.documents) > 5000:
        # Joining 100,000 units takes long enough that the event loop must not.
        body = await anyio.to_thread.run_sync(units_document, page.documents, next_link)
    else:
        body = units_document(page.documents, next_link)
    headers = {"Link": f'<{next_link}>; rel="next"'} if next_link else None
    return Response(body, media_type="application/json", headers=headers)


async def unit_route(request: Request) -> Response:
    """Dispatch ``/v1/units/<id>[/<action>[/<arg>]]`` on the raw path."""
    return await dispatch(request, "/v1/units/")


async def dispatch(
    request: Request, base: str, namespace: str = "", surface: Surface = Surface.API
) -> Response:
    """Dispatch ``<base><id>[/<action>[/<arg>]]`` for ``surface``; a unit
    outside ``namespace`` (an ID prefix, for APIs scoped to an organization)
    is ``UnitNotFound``, as if it did not exist."""
    request.scope[SURFACE_KEY] = surface
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    raw = raw_path.decode("latin-1").split("?", 1)[0]
    rest = raw[len(base) :].rstrip("/")
    parts = [unquote(p) for p in rest.split("/")]
    action: str | None = None
    arg: str | None = None
    if len(parts) >= 3 and parts[-2] == "versions" and _is_number(parts[-1]):
        action, arg, parts = "version", parts[-1], parts[:-2]
    elif len(parts) >= 2 and parts[-1] in _ACTIONS:
        action, parts = parts[-1], parts[:-1]
    # Metrics and the access log name the operation, never the unit.
    unit_template = f"{base}{{id}}"
    if action is None:
        handlers, template = _UNIT_METHODS, unit_template
    elif action == "version":
        handlers, template = _ACTION_VERSION, f"{unit_template}/versions/{{n}}"
    else:
        handlers, template = _ACTIONS[action], f"{unit_template}/{action}"
    request.scope[ROUTE_TEMPLATE_KEY] = template
    unit_id = decode_path_id("/".join(parts))
    if not unit_id.startswith(namespace):
        raise UnitNotFound(unit_id)
    return await pick(request.method, handlers)(request, unit_id, arg)


async def _get_unit(request: Request, unit_id: UnitId, _: str | None) -> Response:
    return JSONResponse(
        unit_json(await services_of(request).states.get_unit(_caller(request), unit_id))
    )


async def _update_labels(request: Request, unit_id: UnitId, _: str | None) -> Response:
    """``{"labels": {"k": "v" | null}}``: set or (null) remove those labels,
    leave the others; answers the unit as it now is."""
    doc = await read_json_object(request, "request body")
    req = structure(doc, UpdateLabelsRequest, "labels update")
    unit = await services_of(request).states.update_labels(_caller(request), unit_id, req.labels)
    return JSONResponse(unit_json(unit))


async def _delete_unit(request: Request, unit_id: UnitId, _: str | None) -> Response:
    await services_of(request).states.delete_unit(_caller(request), unit_id)
    return Response(status_code=204)


async def _download(request: Request, unit_id: UnitId, _: str | None) -> Response:
    found = await services_of(request).states.open_download(_caller(request), unit_id)
    if found is None:
        return Response(b"", media_type="application/json")
    version, reader = found
    return await state_answer(request, version, reader, version_headers(version))


async def _upload(request: Request, unit_id: UnitId, _: str | None) -> Response:
    service = services_of(request).states
    data = await read_body(request, service.policy.max_state_bytes, check_md5=False)
    force = _flag(request, "force")
    result = await service.upload(
        _caller(request),
        unit_id,
        data,
        lock_id=request.query_params.get("if_locked_by") or None,
        force=force,
        expected_md5=claimed_md5(request),
    )
    return JSONResponse(upload_json(result, forced=force))


async def _lock(request: Request, unit_id: UnitId, _: str | None) -> Response:
    doc = await read_json_object(request, "lock request")
    held = await services_of(request).states.lock(_caller(request), unit_id, lock_from_json(doc))
    return JSONResponse(lock_json(held))


async def _unlock(request: Request, unit_id: UnitId, _: str | None) -> Response:
    doc = await read_json_object(request, "unlock request")
    lock_id = lock_from_json(doc).id if doc else None
    if not lock_id and not _flag(request, "force"):
        raise InvalidInput('lock ID required: send {"id": "<lock id>"} or use ?force=true')
    await services_of(request).states.unlock(_caller(request), unit_id, lock_id or None)
    return JSONResponse({"message": "Unit unlocked successfully"})


async def _versions(request: Request, unit_id: UnitId, _: str | None) -> Response:
    limit = _int_param(request, "limit", 100)
    offset = _int_param(request, "offset", 0)
    page = await services_of(request).states.version_page(
        _caller(request), unit_id, offset=offset, limit=limit
    )
    return JSONResponse(
        versions_page_json(unit_id, page.versions, total=page.total, offset=offset, limit=limit)
    )


async def _version(request: Request, unit_id: UnitId, arg: str | None) -> Response:
    assert arg is not None
    number = _whole_number("version number", arg)
    version, data = await services_of(request).states.read_version(
        _caller(request), unit_id, number
    )
    return state_response(data, version_headers(version))


async def _restore(request: Request, unit_id: UnitId, _: str | None) -> Response:
    service = services_of(request).states
    doc = await read_json_object(request, "restore request")
    req = structure(doc, RestoreRequest, "restore request")
    number = req.version
    if number is None and req.timestamp:
        number = await _number_at(request, unit_id, req.timestamp)
    if number is None:
        raise InvalidInput('restore needs {"version": N} or {"timestamp": "<RFC 3339>"}')
    lock_id = req.lock_id or request.query_params.get("if_locked_by") or None
    version = await service.restore(_caller(request), unit_id, number, lock_id=lock_id)
    return JSONResponse(restored_json(unit_id, number, version))


async def _number_at(request: Request, unit_id: UnitId, timestamp: str) -> int:
    """The version current at ``timestamp``: the newest written at or before it."""
    try:
        wanted = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"timestamp {timestamp!r} is not RFC 3339") from None
    if wanted.tzinfo is None:
        raise InvalidInput(
            f"timestamp {timestamp!r} has no time zone: add Z (UTC) or an offset such as +02:00"
        )
    found = current_at(
        await services_of(request).states.list_versions(_caller(request), unit_id), wanted
    )
    if found is None:
        raise NotFound(f"unit {unit_id!r} has no kept version written at or before {timestamp}")
    return found.number


async def _diff(request: Request, unit_id: UnitId, _: str | None) -> Response:
    diff = await services_of(request).states.diff(
        _caller(request), unit_id, _opt_int(request, "from"), _opt_int(request, "to")
    )
    return JSONResponse({"unit_id": unit_id, **diff_json(diff)})


def _opt_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    return _int_param(request, name, 0)


async def _undelete(request: Request, unit_id: UnitId, _: str | None) -> Response:
    unit = await services_of(request).states.undelete_unit(_caller(request), unit_id)
    return JSONResponse(unit_json(unit))


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    return _whole_number(f"query parameter {name!r}", raw)


def _is_number(raw: str) -> bool:
    # ASCII only: str.isdigit() also accepts '²' and other digits int() refuses.
    return raw.isascii() and raw.isdigit()


def _whole_number(what: str, raw: str) -> int:
    """``raw`` as a number a store can keep, or ``InvalidInput`` naming ``what``."""
    if not _is_number(raw):
        raise InvalidInput(f"{what} must be a non-negative integer, got {raw!r}")
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(MAX_NUMBER)) or int(digits) > MAX_NUMBER:
        raise InvalidInput(f"{what} must be at most {MAX_NUMBER}")
    return int(digits)


_UNIT_METHODS: dict[str, Handler] = {
    "GET": _get_unit,
    "PATCH": _update_labels,
    "DELETE": _delete_unit,
}
_ACTION_VERSION: dict[str, Handler] = {"GET": _version}
_ACTIONS: dict[str, dict[str, Handler]] = {
    "download": {"GET": _download},
    "upload": {"POST": _upload, "PUT": _upload},
    "lock": {"POST": _lock},
    "unlock": {"DELETE": _unlock, "POST": _unlock},
    "versions": {"GET": _versions},
    "restore": {"POST": _restore},
    "undelete": {"POST": _undelete},
    "diff": {"GET": _diff},
    "status": {"GET": graph_routes.unit_status},
}


def served() -> list[tuple[str, str]]:
    """``(method, path template)`` of everything ``unit_route`` dispatches,
    read from its tables (the API description must cover each)."""
    pairs = [(m, _UNIT) for m in _UNIT_METHODS]
    pairs += [(m, _VERSION) for m in _ACTION_VERSION]
    pairs += [(m, f"{_UNIT}/{action}") for action, table in _ACTIONS.items() for m in table]
    return pairs


# -- the API description (taco_http.openapi) ----------------------------------

_TAG = "units"
_ID = unit_id_param(
    "the unit's ID; a '/' in it may be sent raw, as %2F or as '__' (and must be encoded "
    "when the ID's last segment is an action word such as 'lock')"
)
_IF_LOCKED_BY = Param("if_locked_by", "query", "the lock ID the write is made under")
_IF_NONE_MATCH = Param(
    "If-None-Match", "header", "ETags the client holds: 304 without the body when one matches"
)
_VERSION_HEADERS = {
    VERSION_HEADER: "the version's number",
    QUARANTINED_HEADER: "true when the clobber guard refused this version",
    RECORD_HEADER: "the whole version record (VersionDoc) as compact JSON",
}
# ``owner`` is the server's to set: a request's is ignored.
_LOCK_BODY = Json(LockInfo, name="LockRequest", omit=("owner",), optional=True, open=True)
_LOCKED = errors(423)


def _number(name: str, description: str) -> Param:
    return Param(name, "query", description, kind=int, schema={"minimum": 0})


OPERATIONS = (
    Operation(
        "GET",
        "/v1/units",
        "List units, sorted by ID",
        _TAG,
        description="Without limit, every unit the caller may see. With limit, one page "
        "(keyset pagination, stable while units come and go): the next page's URL is in next "
        "and in a Link header.",
        params=(
            Param("prefix", "query", "only IDs that start with this (a plain string prefix)"),
            Param("deleted", "query", "list the soft-deleted units instead", kind=bool),
            Param(
                "limit", "query", "units per page (at most 10000)", kind=int, schema={"minimum": 1}
            ),
            Param("after", "query", "the last unit ID of the previous page"),
        ),
        replies=(
            Reply(200, "done", Json(UnitListDoc), {"Link": 'the next page: <url>; rel="next"'}),
            *errors(400),
        ),
    ),
    Operation(
        "POST",
        "/v1/units",
        "Create a unit",
        _TAG,
        body=Json(CreateUnitRequest),
        body_required=True,
        replies=(ok(CreatedUnitDoc, "created", 201), *errors(400, 409)),
    ),
    Operation(
        "GET",
        _UNIT,
        "A unit, with its lock",
        _TAG,
        params=(_ID,),
        replies=(ok(UnitDoc), *errors(400, 404)),
    ),
    Operation(
        "PATCH",
        _UNIT,
        "Set or remove some of a unit's labels",
        _TAG,
        description="Each label named with a string is set, each named with null removed; "
        "labels not named stay. Needs unit.write.",
        params=(_ID,),
        body=Json(UpdateLabelsRequest),
        body_required=True,
        replies=(ok(UnitDoc), *errors(400, 404)),
    ),
    Operation(
        "DELETE",
        _UNIT,
        "Soft-delete a unit (recoverable during the grace period)",
        _TAG,
        params=(_ID,),
        replies=(Reply(204, "deleted"), *errors(400, 404), *_LOCKED),
    ),
    Operation(
        "POST",
        f"{_UNIT}/undelete",
        "Bring back the most recently deleted incarnation of the ID",
        _TAG,
        params=(_ID,),
        replies=(ok(UnitDoc), *errors(400, 404, 409)),
    ),
    Operation(
        "GET",
        f"{_UNIT}/download",
        "The current state",
        _TAG,
        params=(_ID, _IF_NONE_MATCH),
        replies=(
            Reply(
                200,
                "the state (an empty body before the first write)",
                STATE,
                {**_VERSION_HEADERS, "ETag": "strong validator: the SHA-256 of the bytes sent"},
            ),
            Reply(304, "the client's copy is current (If-None-Match); empty body"),
            *errors(400, 404),
        ),
    ),
    *(
        Operation(
            method,
            f"{_UNIT}/upload",
            "Store a new current state",
            _TAG,
            description="The lock, the state's shape and the clobber guard apply: a refused "
            "write is kept as a quarantined version (409 names it).",
            params=(
                _ID,
                _IF_LOCKED_BY,
                Param("force", "query", "write past the clobber guard", kind=bool),
                Param("Content-MD5", "header", "the body's MD5, base64: checked, 400 if wrong"),
            ),
            body=STATE,
            body_required=True,
            replies=(ok(UploadDoc), *errors(400, 404, 409, 413), *_LOCKED),
        )
        for method in ("POST", "PUT")
    ),
    Operation(
        "POST",
        f"{_UNIT}/lock",
        "Lock a unit",
        _TAG,
        description="A missing ID gets a fresh UUID; locking again with the holder's ID is "
        "idempotent.",
        params=(_ID,),
        body=_LOCK_BODY,
        replies=(ok(LockInfo, "the lock held"), *errors(400, 404), *_LOCKED),
    ),
    *(
        Operation(
            method,
            f"{_UNIT}/unlock",
            "Unlock a unit",
            _TAG,
            description='With the holder\'s lock ID as {"id": ...}, or ?force=true.',
            params=(_ID, Param("force", "query", "unlock whoever holds it", kind=bool)),
            body=_LOCK_BODY,
            replies=(ok(MessageDoc, "unlocked"), *errors(400, 404), *_LOCKED),
        )
        for method in ("DELETE", "POST")
    ),
    Operation(
        "GET",
        f"{_UNIT}/versions",
        "A page of the unit's history, newest first",
        _TAG,
        params=(
            _ID,
            _number("limit", "versions per page (default 100)"),
            _number("offset", "how many of the newest to skip (default 0)"),
        ),
        replies=(ok(VersionPageDoc), *errors(400, 404)),
    ),
    Operation(
        "GET",
        _VERSION,
        "The bytes of one version",
        _TAG,
        params=(
            _ID,
            Param("n", "path", "the version's number", kind=int, schema={"minimum": 0}),
        ),
        replies=(Reply(200, "the version's state", STATE, _VERSION_HEADERS), *errors(400, 404)),
    ),
    Operation(
        "POST",
        f"{_UNIT}/restore",
        "Make an old version current again, as a new version",
        _TAG,
        params=(_ID, _IF_LOCKED_BY),
        body=Json(RestoreRequest),
        body_required=True,
        replies=(ok(RestoredDoc), *errors(400, 404, 409), *_LOCKED),
    ),
    Operation(
        "GET",
        f"{_UNIT}/diff",
        "What changed between two versions",
        _TAG,
        params=(
            _ID,
            _number("from", "the older version (default: the one before 'to')"),
            _number("to", "the newer version (default: the current one)"),
        ),
        replies=(ok(DiffDoc), *errors(400, 404)),
    ),
)
