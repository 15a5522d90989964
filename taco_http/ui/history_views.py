"""A unit's history: the versions timeline, the visual diff between any two
versions, and restore with a confirmation.

The diff is ``StateService.diff`` asked for values (``taco_core.diff``):
resources added, removed and changed with their changed attributes before
and after (those Terraform marks sensitive masked), and outputs (sensitive
ones masked). It needs full read access, as the API's diff does, so a
caller allowed only outputs is refused it, and never sees a resource.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from taco_core.errors import InvalidInput
from taco_core.rbac import Action
from taco_http.ui.forms import bounded, number, read_form
from taco_http.ui.frame import Visit
from taco_http.ui.unit_views import unit_id_of, unit_url

PAGE_VERSIONS = 50


async def history(visit: Visit) -> Response:
    unit_id = unit_id_of(visit)
    states, caller = visit.services.states, visit.caller
    offset = bounded(
        visit.request.query_params.get("offset"), "offset", default=0, low=0, high=10**9
    )
    unit = await states.get_unit(caller, unit_id)
    page = await states.version_page(caller, unit_id, offset=offset, limit=PAGE_VERSIONS)
    newer = max(0, offset - PAGE_VERSIONS) if offset > 0 else None
    older = offset + PAGE_VERSIONS if offset + PAGE_VERSIONS < page.total else None
    return visit.page(
        "history.html",
        nav="units",
        unit=unit,
        versions=page.versions,
        total=page.total,
        offset=offset,
        newer=newer,
        older=older,
        full=await visit.may(Action.UNIT_READ, unit_id),
        may_write=await visit.may(Action.UNIT_WRITE, unit_id),
        unit_url=unit_url,
        diff_url=lambda to, frm=None: diff_url(unit_id, frm, to),
    )


def diff_url(unit_id: str, from_version: int | None, to_version: int | None) -> str:
    params = {k: str(v) for k, v in (("from", from_version), ("to", to_version)) if v is not None}
    query = f"?{urlencode(params)}" if params else ""
    return unit_url(unit_id, "diff") + query


async def diff(visit: Visit) -> Response:
    unit_id = unit_id_of(visit)
    query = visit.request.query_params
    from_version = number(query.get("from"), "from")
    to_version = number(query.get("to"), "to")
    unit = await visit.services.states.get_unit(visit.caller, unit_id)
    found = await visit.services.states.diff(
        visit.caller, unit_id, from_version, to_version, values=True
    )
    return visit.page(
        "diff.html",
        nav="units",
        unit=unit,
        diff=found,
        may_write=await visit.may(Action.UNIT_WRITE, unit_id),
        unit_url=unit_url,
    )


def _version(raw: str | None) -> int:
    found = number(raw, "version")
    if found is None:
        raise InvalidInput("say which version to restore")
    return found


async def restore_confirm(visit: Visit) -> Response:
    unit_id = unit_id_of(visit)
    version = _version(visit.request.query_params.get("version"))
    states, caller = visit.services.states, visit.caller
    unit = await states.get_unit(caller, unit_id)
    if unit.head is None:
        raise InvalidInput(f"unit {unit_id!r} has no state yet; there is nothing to restore over")
    # What restoring would change, from the current version to the chosen
    # one, for a caller who may see it.
    changes = None
    if await visit.may(Action.UNIT_READ, unit_id):
        changes = await states.diff(caller, unit_id, unit.head, version, values=True)
    return visit.page(
        "restore.html",
        nav="units",
        unit=unit,
        version=version,
        diff=changes,
        unit_url=unit_url,
    )


async def restore(visit: Visit) -> Response:
    form = await read_form(visit)
    unit_id = unit_id_of(visit)
    version = _version(form.get("version"))
    made = await visit.services.states.restore(visit.caller, unit_id, version)
    return visit.redirect(
        unit_url(unit_id, "history"),
        f"Version {version} of {unit_id} restored as version {made.number}.",
    )
