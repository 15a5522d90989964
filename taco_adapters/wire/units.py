"""Units on the wire: the management API's unit object and listing."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from attrs import frozen

from taco_adapters.wire.converter import parse_time, rfc3339
from taco_adapters.wire.locks import held_lock_from_json, lock_json
from taco_core.model import LockInfo, Unit, UnitId
from taco_core.unit_id import parse_unit_id


@frozen
class UnitDoc:
    """A unit as the API shows it (``unit_json``)."""

    id: str
    size: int
    created: datetime
    updated: datetime
    locked: bool
    lock: LockInfo | None
    labels: dict[str, str]
    version: int | None
    deleted_at: datetime | None = None


@frozen
class UnitListDoc:
    """A listing of units, sorted by ID (``units_document``); ``next`` links
    to the following page of a paged listing, when there is one."""

    units: list[UnitDoc]
    count: int
    next: str | None = None


@frozen
class CreatedUnitDoc:
    """The answer to a create (``created_unit_json``)."""

    id: str
    created: datetime


def unit_json(unit: Unit) -> dict[str, Any]:
    """A unit: ``version`` is the current version's number (``null`` before
    the first write); ``deleted_at`` appears only on deleted units.

    Written out by hand rather than generated: a listing renders it for every
    unit, and this is the fastest way to build it."""
    doc: dict[str, Any] = {
        "id": unit.id,
        "size": unit.size,
        "created": rfc3339(unit.created),
        "updated": rfc3339(unit.updated),
        "locked": unit.locked,
        "lock": lock_json(unit.lock) if unit.lock else None,
        "labels": dict(unit.labels),
        "version": unit.head,
    }
    if unit.deleted_at is not None:
        doc["deleted_at"] = rfc3339(unit.deleted_at)
    return doc


def unit_document(unit: Unit) -> str:
    """``unit_json`` as compact JSON text: one unit of a listing."""
    return json.dumps(unit_json(unit), ensure_ascii=False, separators=(",", ":"))


def units_document(documents: Sequence[str], next_link: str | None = None) -> bytes:
    """A listing (``units_json``'s shape) joined from units' JSON texts, with
    the link to the next page when there is one."""
    tail = f',"next":{json.dumps(next_link)}' if next_link is not None else ""
    return f'{{"units":[{",".join(documents)}],"count":{len(documents)}{tail}}}'.encode()


def unit_from_json(doc: Mapping[str, Any]) -> Unit:
    """A unit from ``unit_json``'s shape; the ID is checked by the core's rules."""
    lock = doc.get("lock")
    deleted_at = doc.get("deleted_at")
    return Unit(
        id=parse_unit_id(doc["id"]),
        created=parse_time(doc["created"]),
        updated=parse_time(doc["updated"]),
        size=int(doc.get("size", 0)),
        lock=held_lock_from_json(lock) if isinstance(lock, dict) else None,
        labels={str(k): str(v) for k, v in (doc.get("labels") or {}).items()},
        head=doc.get("version"),
        deleted_at=parse_time(deleted_at) if deleted_at else None,
    )


def units_json(units: Sequence[Unit]) -> dict[str, Any]:
    """A listing: the units and how many there are."""
    return {"units": [unit_json(u) for u in units], "count": len(units)}


def units_from_json(doc: Mapping[str, Any]) -> list[Unit]:
    return [unit_from_json(u) for u in doc.get("units", [])]


def created_unit_json(unit: Unit) -> dict[str, str]:
    """The answer to a create: the ID (as the server spelled it) and when."""
    return {"id": unit.id, "created": rfc3339(unit.created)}


def created_unit_from_json(
    doc: Mapping[str, Any], unit_id: UnitId, labels: Mapping[str, str] | None
) -> Unit:
    """The unit a create made, from its answer and what was asked for."""
    created = parse_time(doc["created"])
    return Unit(
        id=parse_unit_id(doc.get("id", unit_id)), created=created, updated=created, labels=labels
    )
