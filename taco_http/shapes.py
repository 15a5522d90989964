"""JSON shapes of the HTTP API: domain objects in, domain objects out.

Two lock shapes exist on purpose: Terraform's own capitalised ``LockInfo`` on
the backend (Terraform parses it to print the holder) and the reference's
lowercase shape on the management API. Both parse case-insensitively.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import cattrs
from attrs import field, frozen

from taco_core.diff import OutputChange, StateDiff
from taco_core.errors import InvalidInput
from taco_core.model import LockInfo, Payload, StateVersion, Unit

_LOCK_FIELDS = ("id", "operation", "info", "who", "version", "created", "path")


def rfc3339(value: datetime) -> str:
    """UTC RFC 3339 with microseconds and a ``Z``.

    Listings render this twice per unit, so the common case (already UTC) takes
    the fast ``isoformat`` path; ``strftime`` is ten times slower."""
    if value.utcoffset() != _ZERO:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


_ZERO = timedelta(0)


def parse_json_object(body: Payload, what: str) -> dict[str, Any]:
    """Parse a request body that must be a JSON object (``{}`` when empty)."""
    if not body.strip():
        return {}
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    return doc


def lock_from_json(doc: Mapping[str, Any]) -> LockInfo:
    """A LockInfo from Terraform's or the reference's JSON (keys in any case)."""
    lowered = {str(k).lower(): v for k, v in doc.items()}
    values: dict[str, str] = {}
    for name in _LOCK_FIELDS:
        value = lowered.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"lock field {name!r} must be a string, got {value!r}")
        values[name] = value
    return LockInfo(**values)


def lock_terraform(lock: LockInfo) -> dict[str, str]:
    """Terraform's own capitalised LockInfo JSON."""
    return {
        "ID": lock.id,
        "Operation": lock.operation,
        "Info": lock.info,
        "Who": lock.who,
        "Version": lock.version,
        "Created": lock.created,
        "Path": lock.path,
    }


def lock_management(lock: LockInfo) -> dict[str, str]:
    """The reference's lowercase lock JSON, with Terraform's extra fields."""
    return {name: getattr(lock, name) for name in _LOCK_FIELDS}


def unit_json(unit: Unit) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": unit.id,
        "size": unit.size,
        "created": rfc3339(unit.created),
        "updated": rfc3339(unit.updated),
        "locked": unit.locked,
        "lock": lock_management(unit.lock) if unit.lock else None,
        "labels": dict(unit.labels),
        "version": unit.head,
    }
    if unit.deleted_at is not None:
        doc["deleted_at"] = rfc3339(unit.deleted_at)
    return doc


def version_json(v: StateVersion) -> dict[str, Any]:
    """A history entry: the reference's ``timestamp``/``hash``/``size`` plus ours."""
    return {
        "number": v.number,
        "timestamp": rfc3339(v.created),
        "hash": v.sha256[:8],
        "size": v.size,
        "serial": v.serial,
        "lineage": v.lineage,
        "sha256": v.sha256,
        "md5": v.md5,
        "created": rfc3339(v.created),
        "author": v.author,
        "surface": v.surface,
        "quarantined": v.quarantined,
        "note": v.note,
        "restored_from": v.restored_from,
    }


# -- request bodies (structured with cattrs at the edge) ------------------------

_converter = cattrs.Converter(forbid_extra_keys=False)


def _strict_str(value: object, _: type) -> str:
    # cattrs would turn 5 into "5"; an ID or label that is not a string is a mistake.
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__} {value!r}")
    return value


def _strict_int(value: object, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__} {value!r}")
    return value


_converter.register_structure_hook(str, _strict_str)
_converter.register_structure_hook(int, _strict_int)


@frozen
class CreateUnitRequest:
    id: str
    labels: dict[str, str] = field(factory=dict)


@frozen
class RestoreRequest:
    version: int | None = None
    timestamp: str | None = None
    lock_id: str | None = None


def structure(doc: Mapping[str, Any], cls: type[Any], what: str) -> Any:
    """Structure a request body, turning cattrs' errors into a readable 400."""
    try:
        return _converter.structure(doc, cls)
    except Exception as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            detail = "; ".join(cattrs.transform_error(exc))
        else:
            detail = str(exc)
        raise InvalidInput(f"invalid {what}: {detail}") from None


def diff_json(d: StateDiff) -> dict[str, Any]:
    def output(o: OutputChange) -> dict[str, Any]:
        return {"name": o.name, "before": o.before, "after": o.after, "sensitive": o.sensitive}

    return {
        "from_version": d.from_version,
        "to_version": d.to_version,
        "from_serial": d.from_serial,
        "to_serial": d.to_serial,
        "resources": {
            "added": list(d.resources_added),
            "removed": list(d.resources_removed),
            "changed": [
                {"address": c.address, "changed_attributes": list(c.changed_attributes)}
                for c in d.resources_changed
            ],
        },
        "outputs": {
            "added": [output(o) for o in d.outputs_added],
            "removed": [output(o) for o in d.outputs_removed],
            "changed": [output(o) for o in d.outputs_changed],
        },
        "empty": d.empty,
    }
