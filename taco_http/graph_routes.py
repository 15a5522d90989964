"""The dependency graph's views: ``GET /v1/units/{id}/status``, ``GET /v1/status``
and ``GET /v1/graph``.

The answers come from the graph service's index of the graph unit's head (kept
per version, never rebuilt per request); a status read right after a write
sees it. Large answers are rendered in a worker thread so the event loop keeps
serving.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from taco_adapters.wire import graph_json, status_json, statuses_json
from taco_core.caller import Caller
from taco_core.model import Surface, UnitId
from taco_core.unit_id import decode_path_id
from taco_http.auth import caller_of
from taco_http.context import services_of

# Answers about more units than this are rendered off the event loop.
_INLINE_UNITS = 500


def _caller(request: Request) -> Caller:
    return caller_of(request, Surface.API)


async def _json(render: Callable[[], Any], big: bool) -> Response:
    def encode() -> bytes:
        return json.dumps(render(), ensure_ascii=False, separators=(",", ":")).encode()

    body = await anyio.to_thread.run_sync(encode) if big else encode()
    return Response(body, media_type="application/json")


async def unit_status(request: Request, unit_id: UnitId, _: str | None) -> Response:
    """``GET /v1/units/{id}/status``: the reference's status payload."""
    status = await services_of(request).graph.unit_status(_caller(request), unit_id)
    return JSONResponse(status_json(status))


async def statuses(request: Request) -> Response:
    """``GET /v1/status?prefix=``: every unit the graph names under the prefix."""
    prefix = request.query_params.get("prefix", "")
    found = await services_of(request).graph.statuses(_caller(request), prefix)
    return await _json(lambda: statuses_json(found), len(found) > _INLINE_UNITS)


async def graph(request: Request) -> Response:
    """``GET /v1/graph[?unit=ID]``: units with their colours and edges; with
    ``unit``, the edges from and to that unit and the units at their ends."""
    raw = request.query_params.get("unit")
    unit_id = decode_path_id(raw) if raw else None
    view = await services_of(request).graph.view(_caller(request), unit_id)
    return await _json(lambda: graph_json(view), len(view.nodes) > _INLINE_UNITS)
