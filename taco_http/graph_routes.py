"""The dependency graph's views: ``GET /v1/units/{id}/status``, ``GET /v1/status``
and ``GET /v1/graph``.

The answers come from the graph service's index of the graph unit's head (kept
per version, never rebuilt per request); a status read right after a write
sees it. The statuses and edges of one graph version are the same objects from
request to request, so each is rendered to JSON once (``_Fragments``) and an
answer about many units only joins them; large answers are put together in a
worker thread so the event loop keeps serving.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from taco_adapters.wire import (
    GraphDoc,
    StatusesDoc,
    UnitStatusDoc,
    edge_json,
    status_json,
    summary_json,
)
from taco_core.caller import Caller
from taco_core.graph import Edge
from taco_core.graph_status import GraphView, UnitStatus
from taco_core.model import Surface, UnitId
from taco_core.unit_id import decode_path_id
from taco_http.auth import caller_of
from taco_http.context import services_of
from taco_http.operations import Operation, Param, errors, ok, unit_id_param

# Answers about more units than this are rendered off the event loop.
_INLINE_UNITS = 500

T = TypeVar("T")


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


class _Fragments(Generic[T]):
    """The JSON of each object rendered once, found again by identity (the
    object is kept with its bytes, so its ``id`` cannot be reused). Forgets
    everything when its fragments pass ``budget`` bytes (they belong to older
    graph versions by then: one version of a 10,000-unit graph takes about a
    third of the default)."""

    def __init__(self, render: Callable[[T], Any], budget: int = 96 * 1024 * 1024) -> None:
        self._render = render
        self._budget = budget
        self._known: dict[int, tuple[T, bytes]] = {}
        self._bytes = 0

    def join(self, items: Sequence[T]) -> bytes:
        """``[item, ...]`` as a JSON array."""
        if self._bytes > self._budget:
            self._known, self._bytes = {}, 0
        known = self._known
        parts: list[bytes] = []
        for item in items:
            hit = known.get(id(item))
            if hit is None or hit[0] is not item:
                hit = known[id(item)] = (item, _dumps(self._render(item)))
                self._bytes += len(hit[1])
            parts.append(hit[1])
        return b"[" + b",".join(parts) + b"]"


_STATUSES: _Fragments[UnitStatus] = _Fragments(status_json)
_EDGES: _Fragments[Edge] = _Fragments(edge_json)


def _statuses_body(found: Sequence[UnitStatus]) -> bytes:
    return b'{"units":' + _STATUSES.join(found) + b',"count":%d}' % len(found)


def _graph_body(view: GraphView) -> bytes:
    units = _dumps(
        [
            {"unit_id": n.unit_id, "status": n.status.value, "summary": summary_json(n.summary)}
            for n in view.nodes
        ]
    )
    return b'{"units":' + units + b',"edges":' + _EDGES.join(view.edges) + b"}"


def _caller(request: Request) -> Caller:
    return caller_of(request, Surface.API)


async def _json(render: Callable[[], bytes], big: bool) -> Response:
    body = await anyio.to_thread.run_sync(render) if big else render()
    return Response(body, media_type="application/json")


async def unit_status(request: Request, unit_id: UnitId, _: str | None) -> Response:
    """``GET /v1/units/{id}/status``: the reference's status payload."""
    status = await services_of(request).graph.unit_status(_caller(request), unit_id)
    return JSONResponse(status_json(status))


async def statuses(request: Request) -> Response:
    """``GET /v1/status?prefix=``: every unit the graph names under the prefix."""
    prefix = request.query_params.get("prefix", "")
    found = await services_of(request).graph.statuses(_caller(request), prefix)
    return await _json(lambda: _statuses_body(found), len(found) > _INLINE_UNITS)


async def graph(request: Request) -> Response:
    """``GET /v1/graph[?unit=ID]``: units with their colours and edges; with
    ``unit``, the edges from and to that unit and the units at their ends."""
    raw = request.query_params.get("unit")
    unit_id = decode_path_id(raw) if raw else None
    view = await services_of(request).graph.view(_caller(request), unit_id)
    return await _json(lambda: _graph_body(view), len(view.nodes) > _INLINE_UNITS)


# -- the API description (taco_http.openapi) ----------------------------------

_TAG = "dependencies"
_READABLE = (
    " Units the caller may not read are left out, and the digests of edges from units it may "
    "read only the outputs of."
)

OPERATIONS = (
    Operation(
        "GET",
        "/v1/units/{id}/status",
        "A unit's dependency status",
        _TAG,
        description="Green, yellow (something upstream is red) or red (an input changed "
        "since it was last applied), with its incoming edges." + _READABLE,
        params=(unit_id_param("the unit's ID (a unit, or an ID an edge names)"),),
        replies=(ok(UnitStatusDoc), *errors(400, 403, 404)),
    ),
    Operation(
        "GET",
        "/v1/status",
        "The dependency status of every unit the graph names",
        _TAG,
        description="Sorted by unit ID; a unit no edge names is green and not listed." + _READABLE,
        params=(Param("prefix", "query", "only unit IDs that start with this"),),
        replies=(ok(StatusesDoc),),
    ),
    Operation(
        "GET",
        "/v1/graph",
        "The dependency graph: units with their colours, and edges",
        _TAG,
        description="With unit, only the edges from and to that unit and the units at their "
        "ends." + _READABLE,
        params=(Param("unit", "query", "a unit ID: its neighbourhood only"),),
        replies=(ok(GraphDoc), *errors(400, 403, 404)),
    ),
)
