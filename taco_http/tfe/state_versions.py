"""State versions: create (inline or by upload URL), current, list, show, download.

Every write is ``StateService.upload`` with ``owned_lock=True``: Terraform's
writes carry no lock ID, so a workspace locked by the caller's principal is
written under that lock, and one locked by anyone else refuses the write
(409). History, the clobber guard and the ``StateCommitted`` event (which
the dependency graph listens to) all come with it.

Two ways in, both verified against what the client announced (``md5``,
``serial``, ``lineage``; a mismatch is 422 and nothing is stored):

- inline (Terraform 1.0 to 1.5): the state rides base64 in the ``state``
  attribute;
- upload URLs (Terraform 1.6 and later): the create announces the state and
  gets ``hosted-state-upload-url`` and ``hosted-json-state-upload-url``, to
  which Terraform ``PUT``\\ s the raw state and its JSON rendering, in either
  order or at once, without an ``Authorization`` header. The URLs are signed
  (``taco_http.signed_urls``) for that method and path, expire after
  ``UPLOAD_TTL``, and carry the announcement and the caller, so the write is
  made as the caller who asked. Until the raw state lands, the version's ID
  names it by its MD5 (``taco_adapters.wire.tfe_ids``); afterwards that ID
  resolves to the stored version. The JSON rendering is not kept.

The clobber guard: Terraform checks lineage and serial itself before a push,
and 1.15's ``state push -force`` sends ``force: false``, so a write by the
principal that holds the workspace's lock is taken as forced (Terraform
already decided), and history notes when that overrode the guard. A write
without a lock (``-lock=false``) meets the guard as sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from taco_adapters.wire.tfe import (
    attributes_of,
    base64_bytes,
    data_of,
    document,
    flag,
    integer,
    output_json,
    outputs_json,
    page_of,
    state_version_json,
    text,
)
from taco_adapters.wire.tfe_ids import (
    OutputRef,
    StateVersionRef,
    Workspace,
    parse_output_id,
    parse_state_version_id,
    state_version_id,
)
from taco_core.caller import Caller
from taco_core.errors import (
    InvalidInput,
    InvalidState,
    LockConflict,
    NotFound,
    TacoError,
    Unauthenticated,
    VersionNotFound,
)
from taco_core.model import StateFacts, StateVersion, Surface, Unit
from taco_core.state_doc import load_object, read_facts
from taco_http.body import SMALL_BODY, parse_json_object, read_body
from taco_http.context import services_of
from taco_http.signed_urls import UrlSigner
from taco_http.streaming import state_response
from taco_http.tfe.common import (
    api_base,
    caller,
    jsonapi,
    states,
    unit_of,
    workspace_named,
    workspace_of,
)
from taco_http.tfe.sealed import BrokenSeal, decode_principal, encode_principal

UPLOAD_TTL = timedelta(minutes=5)
_MD5 = re.compile(r"[0-9a-f]{32}")
# Parsing a large create body (an inline state, base64, twice) would stall
# every other request if done on the event loop.
_INLINE_PARSE_LIMIT = 256 * 1024


def _signer(request: Request) -> UrlSigner:
    return UrlSigner(services_of(request).keys.signed_urls)


def _guard_forced(unit: Unit, who: Caller, requested: bool) -> bool:
    """Forced when asked, or when the writer holds the workspace's lock
    (Terraform then checked lineage and serial itself)."""
    holder = unit.lock
    return requested or (
        holder is not None and bool(holder.owner) and holder.owner == who.principal.owner_key
    )


def _check_announced(facts: StateFacts, md5: str, serial: int | None, lineage: str) -> None:
    """The bytes are the state the client announced, or ``InvalidInput`` (422)."""
    if facts.md5 != md5:
        raise InvalidInput(
            f"the state's MD5 is {facts.md5}, not the announced md5 {md5}; nothing was stored"
        )
    if serial is not None and facts.serial != serial:
        raise InvalidInput(
            f"the state's serial is {facts.serial}, not the announced serial {serial}; "
            "nothing was stored"
        )
    if lineage and facts.lineage != lineage:
        raise InvalidInput(
            f"the state's lineage is {facts.lineage!r}, not the announced lineage {lineage!r}; "
            "nothing was stored"
        )


async def _facts(data: bytes) -> StateFacts:
    if len(data) <= _INLINE_PARSE_LIMIT:
        return read_facts(data)
    return await anyio.to_thread.run_sync(read_facts, data)


# -- create ------------------------------------------------------------------------


async def create(request: Request) -> Response:
    """``POST /workspaces/{ws_id}/state-versions``."""
    ws = workspace_of(request)
    service = states(request)
    # An inline state arrives base64 (4/3 of its size), possibly twice (``state``
    # and ``json-state``); anything beyond that is not a state version.
    body = await read_body(request, service.policy.max_state_bytes * 3 + SMALL_BODY)
    if len(body) <= _INLINE_PARSE_LIMIT:
        doc = parse_json_object(body, "state version")
    else:
        doc = await anyio.to_thread.run_sync(parse_json_object, body, "state version")
    attributes = attributes_of(data_of(doc))
    md5 = text(attributes, "md5", required=True).lower()
    if not _MD5.fullmatch(md5):
        raise InvalidInput("attribute 'md5' must be the hex MD5 of the state")
    serial = integer(attributes, "serial")
    if serial is None or serial < 0:
        raise InvalidInput("attribute 'serial' is required: a non-negative integer")
    lineage = text(attributes, "lineage")
    requested_force = flag(attributes, "force")
    who = caller(request)
    unit = await unit_of(request, ws)
    if len(body) <= _INLINE_PARSE_LIMIT:
        data = base64_bytes(attributes, "state")
    else:
        data = await anyio.to_thread.run_sync(base64_bytes, attributes, "state")
    if data is None:
        await service.check_write(who, ws.unit_id)
        return _announce(request, ws, unit, who, md5, serial, lineage, requested_force)
    service.check_size(len(data))
    try:
        facts = await _facts(data)
    except InvalidState as exc:
        raise InvalidInput(f"attribute 'state' is not a Terraform state: {exc.message}") from None
    _check_announced(facts, md5, serial, lineage)
    result = await service.upload(
        who,
        ws.unit_id,
        data,
        force=_guard_forced(unit, who, requested_force),
        owned_lock=True,
    )
    ref = StateVersionRef(ws, number=result.version.number)
    return jsonapi(
        document(state_version_json(ref, result.version, base_url=api_base(request))), 201
    )


def _announce(
    request: Request,
    ws: Workspace,
    unit: Unit,
    who: Caller,
    md5: str,
    serial: int,
    lineage: str,
    force: bool,
) -> Response:
    """The upload-URL flow's create: check the lock now (so a refusal comes
    before any upload, as the caller's permission was), then hand out the two
    signed URLs."""
    if unit.lock is not None and unit.lock.owner != who.principal.owner_key:
        raise LockConflict(ws.unit_id, unit.lock)
    ref = StateVersionRef(ws, md5=md5)
    ident = state_version_id(ref)
    base = api_base(request)
    root = str(request.scope.get("root_path", "")) or "/api/v2"
    now = services_of(request).states.clock.now()
    signer = _signer(request)
    params = {
        "p": encode_principal(who.principal),
        "serial": str(serial),
        "lineage": lineage,
        "force": "1" if force else "0",
    }
    raw_path = f"{root}/state-versions/{ident}/content"
    json_path = f"{root}/state-versions/{ident}/json-content"
    raw_query = signer.sign("PUT", raw_path, params, now=now, ttl=UPLOAD_TTL)
    json_query = signer.sign("PUT", json_path, {"p": params["p"]}, now=now, ttl=UPLOAD_TTL)
    public = base[: len(base) - len(root)]
    doc = state_version_json(
        ref,
        None,
        base_url=base,
        upload_url=f"{public}{raw_path}?{raw_query}",
        json_upload_url=f"{public}{json_path}?{json_query}",
    )
    return jsonapi(document(doc), 201)


# -- the signed uploads --------------------------------------------------------------


async def _signed_caller(request: Request) -> tuple[Caller, dict[str, str]]:
    """Check the URL's signature and rebuild who asked for it; an API token
    revoked since then no longer uploads."""
    services = services_of(request)
    params = _signer(request).verify(
        "PUT",
        request.url.path,
        list(request.query_params.multi_items()),
        now=services.states.clock.now(),
    )
    try:
        principal = decode_principal(params.get("p", ""))
    except BrokenSeal:
        raise InvalidInput("the signed URL's principal is unreadable") from None
    if principal.token_id:
        token = await services.auth.tokens.get_api_token(principal.token_id)
        if token is None or not token.is_active(services.states.clock.now()):
            raise Unauthenticated("the API token that asked for this upload URL was revoked")
    base = caller(request)
    return Caller(principal, Surface.TFE, base.origin, base.request_id), params


async def upload_content(request: Request) -> Response:
    """``PUT`` the raw state to its signed upload URL."""
    who, params = await _signed_caller(request)
    ref = parse_state_version_id(str(request.path_params["sv_id"]))
    if ref.number is not None:
        raise NotFound("this state version is stored already; it takes no upload")
    service = states(request)
    data = bytes(await read_body(request, service.policy.max_state_bytes))
    serial = int(params["serial"]) if params.get("serial", "").isdigit() else None
    try:
        facts = await _facts(data)
    except InvalidState as exc:
        raise InvalidInput(f"the upload is not a Terraform state: {exc.message}") from None
    _check_announced(facts, ref.md5, serial, params.get("lineage", ""))
    unit = await service.get_unit(who, ref.workspace.unit_id)
    await service.upload(
        who,
        ref.workspace.unit_id,
        data,
        force=_guard_forced(unit, who, params.get("force") == "1"),
        owned_lock=True,
    )
    return Response(status_code=200)


async def upload_json_content(request: Request) -> Response:
    """``PUT`` the state's JSON rendering: checked to be JSON, not kept."""
    await _signed_caller(request)
    parse_state_version_id(str(request.path_params["sv_id"]))
    data = await read_body(request, states(request).policy.max_state_bytes * 2)
    try:
        await anyio.to_thread.run_sync(json.loads, bytes(data))
    except (ValueError, RecursionError):
        raise InvalidInput("the JSON state upload is not JSON") from None
    return Response(status_code=200)


# -- reading -----------------------------------------------------------------------


async def _version(request: Request, ref: StateVersionRef) -> StateVersion:
    """The stored version ``ref`` names (a pending one: the newest version
    with its MD5, once uploaded); ``NotFound`` otherwise."""
    versions = await states(request).list_versions(caller(request), ref.workspace.unit_id)
    for version in versions:
        if version.quarantined:
            continue
        if ref.number is not None and version.number == ref.number:
            return version
        if ref.number is None and version.md5 == ref.md5:
            return version
    raise NotFound(f"state version {state_version_id(ref)} not found")


def _render(request: Request, ws: Workspace, version: StateVersion) -> dict[str, Any]:
    ref = StateVersionRef(ws, number=version.number)
    return state_version_json(ref, version, base_url=api_base(request))


async def current(request: Request) -> Response:
    """``GET /workspaces/{ws_id}/current-state-version``: 404 before the first write."""
    ws = workspace_of(request)
    unit = await unit_of(request, ws)
    if unit.head is None:
        raise NotFound(f"workspace {ws.unit_id} has no state version yet")
    version = await _version(request, StateVersionRef(ws, number=unit.head))
    return jsonapi(document(_render(request, ws, version)))


async def show(request: Request) -> Response:
    """``GET /state-versions/{sv_id}``."""
    ref = parse_state_version_id(str(request.path_params["sv_id"]))
    version = await _version(request, ref)
    return jsonapi(document(_render(request, ref.workspace, version)))


async def list_versions(request: Request) -> Response:
    """``GET /state-versions?filter[workspace][name]=W&filter[organization][name]=O``:
    the workspace's stored versions, newest first (refused writes left out)."""
    query = request.query_params
    organization = query.get("filter[organization][name]", "")
    name = query.get("filter[workspace][name]", "")
    if not organization or not name:
        raise InvalidInput(
            "listing state versions needs filter[organization][name] and filter[workspace][name]"
        )
    ws = workspace_named(organization, name)
    page = page_of(query)
    versions = [
        v
        for v in await states(request).list_versions(caller(request), ws.unit_id)
        if not v.quarantined
    ]
    shown, meta = page.of(versions)
    return jsonapi(document([_render(request, ws, v) for v in shown], meta))


async def download(request: Request) -> Response:
    """``GET /state-versions/{sv_id}/download``: the version's bytes (outputs
    only for a caller allowed only outputs)."""
    ref = parse_state_version_id(str(request.path_params["sv_id"]))
    version = await _version(request, ref)
    _, data = await states(request).read_version(
        caller(request), ref.workspace.unit_id, version.number
    )
    return state_response(data)


# -- outputs ------------------------------------------------------------------------


async def _outputs(
    request: Request, ws: Workspace, number: int
) -> list[tuple[OutputRef, Mapping[str, Any]]]:
    try:
        _, data = await states(request).read_version(caller(request), ws.unit_id, number)
    except VersionNotFound:
        raise NotFound(f"state version {number} of workspace {ws.unit_id} not found") from None
    try:
        doc = load_object(data)
    except TacoError:
        return []
    outputs = doc.get("outputs")
    if not isinstance(outputs, dict):
        return []
    return [
        (OutputRef(ws, number, name), out) for name, out in outputs.items() if isinstance(out, dict)
    ]


async def outputs(request: Request) -> Response:
    """``GET /state-versions/{sv_id}/outputs``: every output, one page."""
    ref = parse_state_version_id(str(request.path_params["sv_id"]))
    version = await _version(request, ref)
    return jsonapi(outputs_json(await _outputs(request, ref.workspace, version.number)))


async def current_outputs(request: Request) -> Response:
    """``GET /workspaces/{ws_id}/current-state-version-outputs``: every output
    of the current version in one page (Terraform reads only the first);
    an empty list before the first write."""
    ws = workspace_of(request)
    unit = await unit_of(request, ws)
    found = [] if unit.head is None else await _outputs(request, ws, unit.head)
    return jsonapi(outputs_json(found))


async def output(request: Request) -> Response:
    """``GET /state-version-outputs/{output_id}``: one output, its value shown
    even when sensitive (to a caller who may read it)."""
    ref = parse_output_id(str(request.path_params["output_id"]))
    for found_ref, found in await _outputs(request, ref.workspace, ref.number):
        if found_ref.name == ref.name:
            return jsonapi(document(output_json(found_ref, found, reveal=True)))
    raise NotFound(f"state version output {ref.name!r} not found")
