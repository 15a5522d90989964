"""Workspaces: show, list, create, update, delete, lock, unlock, and their tags.

Workspace ``W`` of organization ``O`` is unit ``O/W``: every request here is
a ``StateService`` use case on that unit, so the same rules (RBAC, locks,
soft delete) hold as through any other door.

Locks: the unit's lock, owned by the principal that took it
(``LockInfo.owner``). Terraform's unlock carries no lock ID, so an unlock
releases the lock only for the principal holding it; force-unlock releases
anyone's. A conflict is 409, the status Terraform prints with its lock info
and retries under ``-lock-timeout``.

Tags are the unit's labels: a plain tag is a label with an empty value, a tag
binding ``key=value`` a label ``key`` with that value, and ``tag-names`` the
label keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.requests import Request
from starlette.responses import Response

from taco_adapters.wire.tfe import (
    attributes_of,
    data_list,
    data_of,
    document,
    page_of,
    tag_bindings_json,
    tags_json,
    tags_requested,
    text,
    workspace_json,
)
from taco_adapters.wire.tfe_ids import Workspace, workspace_of_unit
from taco_core.errors import Conflict, InvalidInput, LockConflict
from taco_core.model import LockInfo, Unit
from taco_core.unit_id import parse_user_unit_id
from taco_http.body import read_json_object
from taco_http.tfe.common import (
    api_base,
    caller,
    jsonapi,
    no_content,
    organization_of,
    states,
    terraform_version,
    unit_of,
    workspace_of,
)

_MAX_TAG = 255


def _doc(request: Request, ws: Workspace, unit: Unit) -> dict[str, object]:
    return workspace_json(
        ws, unit, terraform_version=terraform_version(request), base_url=api_base(request)
    )


def _respond(request: Request, ws: Workspace, unit: Unit, status: int = 200) -> Response:
    return jsonapi(document(_doc(request, ws, unit)), status)


def check_tag(key: str) -> str:
    """A tag name or binding key Terraform may send: printable, no spaces or
    commas (``search[tags]`` separates tags with commas), 1 to 255 characters."""
    if (
        not key
        or len(key) > _MAX_TAG
        or not key.isprintable()
        or any(c.isspace() or c == "," for c in key)
    ):
        raise InvalidInput(
            f"tag {key!r} must be 1 to {_MAX_TAG} printable characters without spaces or commas"
        )
    return key


def _check_tags(tags: Mapping[str, str]) -> dict[str, str]:
    for key, value in tags.items():
        check_tag(key)
        if len(value) > _MAX_TAG or not value.isprintable():
            raise InvalidInput(f"tag {key!r}: value must be printable, at most {_MAX_TAG} long")
    return dict(tags)


# -- reading ---------------------------------------------------------------------


async def show(request: Request) -> Response:
    """``GET /organizations/{org}/workspaces/{name}`` and ``GET /workspaces/{ws_id}``."""
    ws = workspace_of(request)
    return _respond(request, ws, await unit_of(request, ws))


def _matches(request: Request, unit: Unit, ws: Workspace) -> bool:
    query = request.query_params
    name = query.get("search[name]", "")
    if name and name not in ws.name:
        return False
    wanted = [t for t in query.get("search[tags]", "").split(",") if t]
    if any(t not in unit.labels for t in wanted):
        return False
    exclude = [t for t in query.get("search[exclude-tags]", "").split(",") if t]
    if any(t in unit.labels for t in exclude):
        return False
    index = 0
    while f"filter[tagged][{index}][key]" in query:
        key = query[f"filter[tagged][{index}][key]"]
        value = query.get(f"filter[tagged][{index}][value]")
        if key not in unit.labels or (value is not None and unit.labels[key] != value):
            return False
        index += 1
    return True


async def list_workspaces(request: Request) -> Response:
    """``GET /organizations/{org}/workspaces`` with ``search[name]`` (part of
    the name), ``search[tags]`` (all of these tags), ``filter[tagged]`` (tag
    bindings) and ``page[number]``/``page[size]``."""
    organization = organization_of(request)
    page = page_of(request.query_params)
    units = await states(request).list_units(caller(request), f"{organization}/")
    found: list[tuple[Workspace, Unit]] = []
    for unit in units:
        ws = workspace_of_unit(unit.id)
        if ws is not None and _matches(request, unit, ws):
            found.append((ws, unit))
    shown, meta = page.of(found)
    items = [_doc(request, ws, unit) for ws, unit in shown]
    return jsonapi(document(items, meta))


# -- creating, changing, deleting ------------------------------------------------


async def create(request: Request) -> Response:
    """``POST /organizations/{org}/workspaces``: a new unit ``O/W``, tagged."""
    organization = organization_of(request)
    data = data_of(await read_json_object(request, "workspace"))
    attributes = attributes_of(data)
    _only_local(attributes)
    name = text(attributes, "name", required=True)
    if "/" in name:
        raise InvalidInput(f"workspace name {name!r} must not contain '/'")
    ws = Workspace(organization, name)
    parse_user_unit_id(ws.unit_id)
    tags = _check_tags(tags_requested(data))
    unit = await states(request).create_unit(caller(request), ws.unit_id, tags)
    return _respond(request, ws, unit, 201)


def _only_local(attributes: Mapping[str, object]) -> None:
    mode = attributes.get("execution-mode")
    if mode not in (None, "local"):
        raise InvalidInput(
            "remote execution is not supported: this server stores state only; "
            "use execution-mode local"
        )
    if attributes.get("operations") is True:
        raise InvalidInput(
            "remote operations are not supported: this server stores state only; "
            "use execution-mode local"
        )


async def update(request: Request) -> Response:
    """``PATCH`` a workspace: accepted and answered with the workspace, as
    long as it stays local and keeps its name (Terraform sets its version)."""
    ws = workspace_of(request)
    data = data_of(await read_json_object(request, "workspace"))
    attributes = attributes_of(data)
    _only_local(attributes)
    name = text(attributes, "name")
    if name and name != ws.name:
        raise InvalidInput(
            "renaming a workspace is not supported: its name is part of its unit's ID"
        )
    unit = await unit_of(request, ws)
    tags = _check_tags(tags_requested(data))
    if tags:
        unit = await states(request).update_labels(caller(request), ws.unit_id, dict(tags))
    return _respond(request, ws, unit)


async def delete(request: Request) -> Response:
    """``DELETE`` a workspace, or ``POST .../actions/safe-delete``: the unit
    is soft-deleted (recoverable with ``taco unit undelete``); 409 while locked."""
    ws = workspace_of(request)
    await states(request).delete_unit(caller(request), ws.unit_id)
    return no_content()


# -- locks ---------------------------------------------------------------------


def _reason(doc: Mapping[str, object]) -> str:
    reason = doc.get("reason")
    if reason is None:
        reason = attributes_of(data_of(doc)).get("reason")
    if reason is not None and not isinstance(reason, str):
        raise InvalidInput("the lock reason must be a string")
    return reason or ""


async def lock(request: Request) -> Response:
    """``POST /workspaces/{ws_id}/actions/lock``."""
    ws = workspace_of(request)
    reason = _reason(await read_json_object(request, "lock request"))
    who = caller(request)
    wanted = LockInfo(
        id="",
        operation="OperationTypeTFE",
        info=reason,
        who=who.principal.subject,
        version=terraform_version(request),
        path=ws.unit_id,
    )
    await states(request).lock(who, ws.unit_id, wanted)
    return _respond(request, ws, await unit_of(request, ws))


async def unlock(request: Request) -> Response:
    """``POST /workspaces/{ws_id}/actions/unlock``: releases the caller's own
    lock; someone else's is 409 (use force-unlock), none is 409 too."""
    ws = workspace_of(request)
    who = caller(request)
    holder = (await unit_of(request, ws)).lock
    if holder is None:
        raise Conflict(f"workspace {ws.unit_id} is already unlocked")
    if not holder.owner or holder.owner != who.principal.owner_key:
        raise LockConflict(ws.unit_id, holder)
    await states(request).unlock(who, ws.unit_id, holder.id)
    return _respond(request, ws, await unit_of(request, ws))


async def force_unlock(request: Request) -> Response:
    """``POST /workspaces/{ws_id}/actions/force-unlock``: releases any lock."""
    ws = workspace_of(request)
    if (await unit_of(request, ws)).lock is None:
        raise Conflict(f"workspace {ws.unit_id} is already unlocked")
    await states(request).unlock(caller(request), ws.unit_id, None)
    return _respond(request, ws, await unit_of(request, ws))


# -- tags ----------------------------------------------------------------------


async def tag_bindings(request: Request) -> Response:
    """``GET /workspaces/{ws_id}/tag-bindings`` (and ``effective-tag-bindings``)."""
    ws = workspace_of(request)
    return jsonapi(tag_bindings_json((await unit_of(request, ws)).labels))


async def add_tag_bindings(request: Request) -> Response:
    """``PATCH /workspaces/{ws_id}/tag-bindings``: adds or updates the given
    bindings, keeping the others; answers every binding."""
    ws = workspace_of(request)
    wanted: dict[str, str] = {}
    for item in data_list(await read_json_object(request, "tag bindings")):
        attributes = attributes_of(item)
        wanted[text(attributes, "key", required=True)] = text(attributes, "value")
    changes: dict[str, str | None] = dict(_check_tags(wanted))
    unit = await states(request).update_labels(caller(request), ws.unit_id, changes)
    return jsonapi(tag_bindings_json(unit.labels))


async def tags(request: Request) -> Response:
    """``GET /workspaces/{ws_id}/relationships/tags``."""
    ws = workspace_of(request)
    return jsonapi(tags_json((await unit_of(request, ws)).labels))


def _tag_names(items: Sequence[Mapping[str, object]]) -> list[str]:
    names = []
    for item in items:
        name = text(attributes_of(item), "name") or text(item, "id").removeprefix("tag-")
        names.append(check_tag(name))
    return names


async def add_tags(request: Request) -> Response:
    """``POST /workspaces/{ws_id}/relationships/tags``: the older plain tags;
    a tag that is already a binding keeps its value."""
    ws = workspace_of(request)
    names = _tag_names(data_list(await read_json_object(request, "tags")))
    unit = await unit_of(request, ws)
    changes: dict[str, str | None] = {n: "" for n in names if n not in unit.labels}
    if changes:
        await states(request).update_labels(caller(request), ws.unit_id, changes)
    return no_content()


async def remove_tags(request: Request) -> Response:
    """``DELETE /workspaces/{ws_id}/relationships/tags``."""
    ws = workspace_of(request)
    names = _tag_names(data_list(await read_json_object(request, "tags")))
    changes: dict[str, str | None] = dict.fromkeys(names)
    await states(request).update_labels(caller(request), ws.unit_id, changes)
    return no_content()
