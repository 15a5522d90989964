"""The units pages: the list (prefix, search, keyset pages), a unit, its
lock and force-unlock, the deleted units and undelete.

Each view calls the use case the API calls for the same thing, as the
caller, so what a page shows and what its buttons do are what the API
would allow; ``Visit.may`` only hides buttons that would be refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode

import anyio
import anyio.to_thread
import attrs
from attrs import frozen
from starlette.responses import Response

from taco_core.access import ReadAccess
from taco_core.errors import InvalidInput, TacoError
from taco_core.model import UnitId
from taco_core.rbac import Action
from taco_core.state_doc import load_object
from taco_core.state_summary import StateSummary, summarise_state
from taco_core.unit_id import check_prefix, parse_unit_id
from taco_http.ui.forms import bounded, read_form, text
from taco_http.ui.frame import Visit

PAGE_UNITS = 50
MAX_PAGE_UNITS = 200
# A search reads the listing in batches and stops after this many units per
# page, offering to go on, so one request never reads 100,000 documents.
SEARCH_BATCH = 1000
SEARCH_SCAN_LIMIT = 20_000
# Deleted units are listed whole (the store keeps them for the grace period).
MAX_DELETED_SHOWN = 500
# Resources listed on a unit's page; past this the page says how many more.
MAX_RESOURCES_SHOWN = 2000
# States larger than this are parsed in a worker thread.
_INLINE_PARSE = 256 * 1024
# A state larger than this is not read for its page (it would be held and
# parsed whole for one look): the page says so, and `taco` downloads it.
MAX_SUMMARY_BYTES = 64 * 1024 * 1024
# Author look-ups a listing page runs at once.
_AUTHOR_LOOKUPS = 8
COLOUR_WORDS = {"green": "up to date", "red": "needs re-apply", "yellow": "might need re-apply"}


def unit_url(unit_id: str, page: str = "units") -> str:
    return f"/ui/{page}/{quote(unit_id, safe='/')}"


def unit_id_of(visit: Visit) -> UnitId:
    return parse_unit_id(visit.request.path_params["unit_id"])


@frozen
class UnitRow:
    """One line of the units list."""

    id: str
    size: int
    updated: str
    version: int | None
    lock: dict[str, Any] | None
    labels: dict[str, str]
    author: str = ""
    # The dependency status ("" when no edge names the unit).
    colour: str = ""


@frozen
class Listing:
    rows: tuple[UnitRow, ...]
    next_after: str | None
    scanned_out: bool = False


def _row(doc: dict[str, Any]) -> UnitRow:
    return UnitRow(
        id=doc["id"],
        size=doc.get("size", 0),
        updated=doc.get("updated", ""),
        version=doc.get("version"),
        lock=doc.get("lock"),
        labels=doc.get("labels") or {},
    )


def _matches(row: UnitRow, needle: str) -> bool:
    if needle in row.id.lower():
        return True
    return any(needle in f"{k}={v}".lower() for k, v in row.labels.items())


async def _listing(visit: Visit, prefix: str, q: str, after: str, limit: int) -> Listing:
    states, caller = visit.services.states, visit.caller
    if not q:
        page = await states.list_unit_documents(caller, prefix, after=after, limit=limit)
        return Listing(tuple(_row(json.loads(d)) for d in page.documents), page.next_after)
    needle = q.lower()
    # A label or ID holding a character JSON escapes cannot be found in the
    # document's text: then every document is parsed.
    prefilter = not any(c in needle for c in '"\\') and needle.isprintable()
    found: list[UnitRow] = []
    cursor, scanned = after, 0
    while True:
        batch = await states.list_unit_documents(caller, prefix, after=cursor, limit=SEARCH_BATCH)
        for doc in batch.documents:
            if prefilter and needle not in doc.lower():
                continue
            row = _row(json.loads(doc))
            if _matches(row, needle):
                found.append(row)
                if len(found) > limit:
                    return Listing(tuple(found[:limit]), found[limit - 1].id)
        scanned += SEARCH_BATCH
        if batch.next_after is None:
            return Listing(tuple(found), None)
        cursor = batch.next_after
        if scanned >= SEARCH_SCAN_LIMIT:
            return Listing(tuple(found), cursor, scanned_out=True)


async def _with_authors(visit: Visit, rows: Sequence[UnitRow]) -> list[UnitRow]:
    """The rows with who wrote each unit's current version (one short read
    each, a few at a time)."""
    authors: dict[str, str] = {}
    limiter = anyio.CapacityLimiter(_AUTHOR_LOOKUPS)

    async def look_up(row: UnitRow) -> None:
        async with limiter:
            try:
                page = await visit.services.states.version_page(
                    visit.caller, UnitId(row.id), offset=0, limit=1
                )
            except TacoError:
                return  # gone or hidden since the listing: the row shows no author
            if page.versions:
                authors[row.id] = page.versions[0].author

    async with anyio.create_task_group() as tg:
        for row in rows:
            if row.version is not None:
                tg.start_soon(look_up, row)
    return [attrs.evolve(r, author=authors.get(r.id, "")) for r in rows]


async def _with_colours(visit: Visit, prefix: str, rows: Sequence[UnitRow]) -> list[UnitRow]:
    """The rows with their dependency status, for units the graph names."""
    if not rows:
        return []
    statuses = await visit.services.graph.statuses(visit.caller, prefix)
    colours = {s.unit_id: str(s.status) for s in statuses}
    return [attrs.evolve(r, colour=colours.get(r.id, "")) for r in rows]


def _search_text(raw: str | None) -> str:
    return text(raw, "search", limit=100)


async def units_list(visit: Visit) -> Response:
    query = visit.request.query_params
    prefix = check_prefix(text(query.get("prefix"), "prefix"))
    q = _search_text(query.get("q"))
    after = check_prefix(text(query.get("after"), "after"))
    limit = bounded(query.get("limit"), "limit", default=PAGE_UNITS, low=1, high=MAX_PAGE_UNITS)
    listing = await _listing(visit, prefix, q, after, limit)
    rows = await _with_colours(visit, prefix, await _with_authors(visit, listing.rows))
    next_link = None
    if listing.next_after is not None:
        params = {"prefix": prefix, "q": q, "after": listing.next_after}
        if limit != PAGE_UNITS:
            params["limit"] = str(limit)
        next_link = "/ui/?" + urlencode({k: v for k, v in params.items() if v})
    return visit.page(
        "units.html",
        nav="units",
        rows=rows,
        prefix=prefix,
        q=q,
        after=after,
        next_link=next_link,
        scanned_out=listing.scanned_out,
        colour_words=COLOUR_WORDS,
        unit_url=unit_url,
    )


async def deleted_list(visit: Visit) -> Response:
    prefix = check_prefix(text(visit.request.query_params.get("prefix"), "prefix"))
    page = await visit.services.states.list_unit_documents(visit.caller, prefix, deleted=True)
    docs = [json.loads(d) for d in page.documents]
    shown = docs[:MAX_DELETED_SHOWN]
    writable: set[str] = set()
    if visit.principal is not None:
        ids = [d["id"] for d in shown]
        writable = set(
            await visit.services.rbac.filter(visit.principal, Action.UNIT_WRITE, ids, str)
        )
    return visit.page(
        "deleted.html",
        nav="deleted",
        units=shown,
        hidden=len(docs) - len(shown),
        writable=writable,
        prefix=prefix,
    )


async def undelete(visit: Visit) -> Response:
    await read_form(visit)
    unit_id = unit_id_of(visit)
    await visit.services.states.undelete_unit(visit.caller, unit_id)
    return visit.redirect(unit_url(unit_id), f"Unit {unit_id} is back.")


async def _summary(data: bytes) -> StateSummary:
    if len(data) <= _INLINE_PARSE:
        return summarise_state(load_object(data))
    return await anyio.to_thread.run_sync(lambda: summarise_state(load_object(data)))


async def unit_page(visit: Visit) -> Response:
    unit_id = unit_id_of(visit)
    states, caller = visit.services.states, visit.caller
    unit = await states.get_unit(caller, unit_id)
    assert visit.principal is not None
    access = await states.access.read_access(visit.principal, unit_id)
    too_large = unit.size > MAX_SUMMARY_BYTES
    found = None if too_large else await states.download(caller, unit_id)
    summary = await _summary(found[1]) if found is not None else summarise_state({})
    dependencies = await visit.services.graph.unit_status(caller, unit_id)
    shown, left = [], MAX_RESOURCES_SHOWN
    for group in summary.groups:
        if left <= 0:
            break
        shown.append(group)
        left -= len(group.resources)
    return visit.page(
        "unit.html",
        nav="units",
        unit=unit,
        summary=summary,
        groups=shown,
        more_resources=max(0, summary.resource_count - MAX_RESOURCES_SHOWN),
        full=access is ReadAccess.FULL,
        too_large=too_large,
        dependencies=dependencies,
        colour_words=COLOUR_WORDS,
        may_lock=await visit.may(Action.UNIT_LOCK, unit_id),
        may_write=await visit.may(Action.UNIT_WRITE, unit_id),
        unit_url=unit_url,
    )


async def unlock_confirm(visit: Visit) -> Response:
    unit_id = unit_id_of(visit)
    unit = await visit.services.states.get_unit(visit.caller, unit_id)
    if unit.lock is None:
        return visit.redirect(unit_url(unit_id), f"Unit {unit_id} is not locked.")
    return visit.page("unlock.html", nav="units", unit=unit, unit_url=unit_url)


async def unlock(visit: Visit) -> Response:
    form = await read_form(visit)
    unit_id = unit_id_of(visit)
    lock_id = text(form.get("lock_id"), "lock ID", limit=1024)
    if not lock_id:
        raise InvalidInput("the form names no lock to release: open the unit's page again")
    # The lock's ID, as Terraform's force-unlock sends it: if another lock
    # was taken since the page was shown, that one is not broken.
    await visit.services.states.unlock(visit.caller, unit_id, lock_id)
    return visit.redirect(unit_url(unit_id), f"Unit {unit_id} is unlocked.")
