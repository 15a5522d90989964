"""The dependency graph on the wire: unit statuses, the graph, and the
``unit.status_changed`` webhook.

A status is the reference's payload (``unit_id``, ``status``, ``incoming``,
``summary``), incoming edges with Go's ``omitempty`` (empty fields left out),
plus ``offender``: the unit to look at first (the source of a red unit's first
pending edge, the red unit upstream of a yellow one; ``null`` when green).
Renderers are written out by hand: ``GET /v1/status`` renders every unit of a
large graph. The ``...Doc`` classes describe what they render, for the API
description (``taco_http.openapi``); nothing is converted through them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import frozen

from taco_adapters.wire.converter import rfc3339
from taco_core.events import UnitStatusChanged
from taco_core.graph import Edge
from taco_core.graph_status import Colour, GraphNode, GraphView, Summary, UnitStatus

STATUS_CHANGED = "unit.status_changed"

_OPTIONAL = ("in_digest", "out_digest", "last_in_at", "last_out_at")


@frozen
class SummaryDoc:
    """How many of a unit's incoming edges are ok, pending, or neither."""

    incoming_ok: int
    incoming_pending: int
    incoming_unknown: int


@frozen
class IncomingEdgeDoc:
    """An edge into the unit, as its status lists it: attributes that are
    empty are left out."""

    from_unit_id: str
    from_output: str
    status: str
    edge_id: str = ""
    in_digest: str = ""
    out_digest: str = ""
    last_in_at: str = ""
    last_out_at: str = ""


@frozen
class UnitStatusDoc:
    """A unit's dependency status: its colour, its incoming edges (``null``
    when there is no graph) and ``offender``, the unit to look at first
    (``null`` when green)."""

    unit_id: str
    status: Colour
    incoming: list[IncomingEdgeDoc] | None
    summary: SummaryDoc
    offender: str | None


@frozen
class StatusesDoc:
    """The statuses of many units, sorted by ID, and how many."""

    units: list[UnitStatusDoc]
    count: int


@frozen
class EdgeDoc:
    """An edge of the graph with every attribute; timestamps never set are ``null``."""

    edge_id: str
    from_unit_id: str
    from_output: str
    to_unit_id: str
    to_input: str
    status: str
    in_digest: str
    out_digest: str
    last_in_at: str | None
    last_out_at: str | None


@frozen
class GraphNodeDoc:
    """A unit of the graph with its colour."""

    unit_id: str
    status: Colour
    summary: SummaryDoc


@frozen
class GraphDoc:
    """Units with their colours and the edges between them."""

    units: list[GraphNodeDoc]
    edges: list[EdgeDoc]


def summary_json(s: Summary) -> dict[str, int]:
    return {
        "incoming_ok": s.incoming_ok,
        "incoming_pending": s.incoming_pending,
        "incoming_unknown": s.incoming_unknown,
    }


def _summary_of(doc: Mapping[str, Any]) -> Summary:
    return Summary(
        int(doc.get("incoming_ok", 0)),
        int(doc.get("incoming_pending", 0)),
        int(doc.get("incoming_unknown", 0)),
    )


def incoming_json(e: Edge) -> dict[str, str]:
    """An incoming edge as the reference's status lists it."""
    doc = {"edge_id": e.id} if e.id else {}
    doc["from_unit_id"] = e.from_unit_id
    doc["from_output"] = e.from_output
    doc["status"] = e.status
    for name in _OPTIONAL:
        value = getattr(e, name)
        if value:
            doc[name] = value
    return doc


def _incoming_of(doc: Mapping[str, Any], unit_id: str) -> Edge:
    return Edge(
        id=str(doc.get("edge_id", "")),
        from_unit_id=str(doc["from_unit_id"]),
        from_output=str(doc["from_output"]),
        to_unit_id=unit_id,
        to_input="",
        status=str(doc.get("status", "")),
        **{name: str(doc.get(name) or "") for name in _OPTIONAL},
    )


def status_json(s: UnitStatus) -> dict[str, Any]:
    """One unit's status; ``incoming`` is ``null`` when there is no graph."""
    return {
        "unit_id": s.unit_id,
        "status": s.status.value,
        "incoming": None if s.incoming is None else [incoming_json(e) for e in s.incoming],
        "summary": summary_json(s.summary),
        "offender": s.offender,
    }


def status_from_json(doc: Mapping[str, Any]) -> UnitStatus:
    unit_id = str(doc["unit_id"])
    incoming = doc.get("incoming")
    return UnitStatus(
        unit_id=unit_id,
        status=Colour(doc["status"]),
        incoming=None if incoming is None else tuple(_incoming_of(e, unit_id) for e in incoming),
        summary=_summary_of(doc.get("summary") or {}),
        offender=doc.get("offender"),
    )


def statuses_json(statuses: Sequence[UnitStatus]) -> dict[str, Any]:
    """Many units' statuses, by unit ID, and how many."""
    return {"units": [status_json(s) for s in statuses], "count": len(statuses)}


def statuses_from_json(doc: Mapping[str, Any]) -> list[UnitStatus]:
    return [status_from_json(s) for s in doc.get("units", [])]


def edge_json(e: Edge) -> dict[str, Any]:
    """An edge with every attribute; timestamps never set are ``null``."""
    return {
        "edge_id": e.id,
        "from_unit_id": e.from_unit_id,
        "from_output": e.from_output,
        "to_unit_id": e.to_unit_id,
        "to_input": e.to_input,
        "status": e.status,
        "in_digest": e.in_digest,
        "out_digest": e.out_digest,
        "last_in_at": e.last_in_at or None,
        "last_out_at": e.last_out_at or None,
    }


def edge_from_json(doc: Mapping[str, Any]) -> Edge:
    return Edge(
        id=str(doc.get("edge_id") or ""),
        from_unit_id=str(doc["from_unit_id"]),
        from_output=str(doc["from_output"]),
        to_unit_id=str(doc["to_unit_id"]),
        to_input=str(doc.get("to_input") or ""),
        in_digest=str(doc.get("in_digest") or ""),
        out_digest=str(doc.get("out_digest") or ""),
        status=str(doc.get("status") or ""),
        last_in_at=str(doc.get("last_in_at") or ""),
        last_out_at=str(doc.get("last_out_at") or ""),
    )


def graph_json(view: GraphView) -> dict[str, Any]:
    """The graph: every unit with its colour and summary, every edge."""
    return {
        "units": [
            {"unit_id": n.unit_id, "status": n.status.value, "summary": summary_json(n.summary)}
            for n in view.nodes
        ],
        "edges": [edge_json(e) for e in view.edges],
    }


def graph_from_json(doc: Mapping[str, Any]) -> GraphView:
    return GraphView(
        nodes=tuple(
            GraphNode(str(n["unit_id"]), Colour(n["status"]), _summary_of(n.get("summary") or {}))
            for n in doc.get("units", [])
        ),
        edges=tuple(edge_from_json(e) for e in doc.get("edges", [])),
    )


def status_changed_json(event: UnitStatusChanged, delivery: str | None = None) -> dict[str, Any]:
    """The ``unit.status_changed`` webhook body. ``delivery`` identifies this
    notification (the same in every retry), for receivers that deduplicate."""
    return {
        "type": STATUS_CHANGED,
        "delivery": delivery or str(uuid.uuid4()),
        "unit_id": event.unit_id,
        "from": event.before.value,
        "to": event.after.value,
        "cause": edge_json(event.cause) if event.cause is not None else None,
        "time": rfc3339(event.at),
    }
