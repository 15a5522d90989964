"""The JSON shapes of OpenTaco's management API, rendered and parsed.

One definition serves both ends: the server (``taco_http``) renders the core's
objects with these functions, the ``taco`` CLI prints the same shapes with
``--json`` (so a script can switch between ``curl`` and ``taco --json``), and
the HTTP client (``taco_adapters.remote``) parses them back into the core's
objects. Renderer and parser of a shape sit side by side so the two ends
cannot drift apart.

Shapes that only the server speaks stay in ``taco_http.shapes``: Terraform's
capitalised ``LockInfo`` on the backend and the validation of request bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from taco_core.auth import ApiToken
from taco_core.diff import OutputChange, ResourceChange, StateDiff
from taco_core.model import LockInfo, StateVersion, Unit
from taco_core.unit_id import UnitId, parse_unit_id

# The reference's lowercase lock keys, plus the fields Terraform's LockInfo adds.
LOCK_FIELDS = ("id", "operation", "info", "who", "version", "created", "path")

_ZERO = timedelta(0)


def rfc3339(value: datetime) -> str:
    """UTC RFC 3339 with microseconds and a ``Z``.

    Listings render this twice per unit, so the common case (already UTC) takes
    the fast ``isoformat`` path; ``strftime`` is ten times slower."""
    if value.utcoffset() != _ZERO:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    """A time as ``rfc3339`` writes it (any ISO 8601 text is accepted)."""
    return datetime.fromisoformat(text)


# -- locks ---------------------------------------------------------------------


def lock_json(lock: LockInfo) -> dict[str, str]:
    """The reference's lowercase lock JSON, with Terraform's extra fields."""
    return {name: getattr(lock, name) for name in LOCK_FIELDS}


def parse_lock(doc: Mapping[str, Any]) -> LockInfo:
    """A lock from its JSON, leniently: keys in any case (Terraform's shape
    too), values made text, absent optional fields left empty, so that a
    holder the server reports is shown rather than refused."""
    lowered = {str(k).lower(): v for k, v in doc.items()}
    return LockInfo(**{n: str(lowered[n]) for n in LOCK_FIELDS if lowered.get(n) is not None})


# -- units ---------------------------------------------------------------------


def unit_json(unit: Unit) -> dict[str, Any]:
    """A unit: ``version`` is the current version's number (``null`` before
    the first write); ``deleted_at`` appears only on deleted units."""
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


def parse_unit(doc: Mapping[str, Any]) -> Unit:
    """A unit from ``unit_json``'s shape; the ID is checked by the core's rules."""
    lock = doc.get("lock")
    deleted_at = doc.get("deleted_at")
    return Unit(
        id=parse_unit_id(doc["id"]),
        created=parse_time(doc["created"]),
        updated=parse_time(doc["updated"]),
        size=int(doc.get("size", 0)),
        lock=parse_lock(lock) if isinstance(lock, dict) else None,
        labels={str(k): str(v) for k, v in (doc.get("labels") or {}).items()},
        head=doc.get("version"),
        deleted_at=parse_time(deleted_at) if deleted_at else None,
    )


# -- versions ------------------------------------------------------------------


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


def parse_version(doc: Mapping[str, Any], unit_id: UnitId) -> StateVersion:
    """A version of ``unit_id`` from ``version_json``'s shape (the reference's
    ``timestamp`` and ``hash`` are not needed: ``created`` and ``sha256`` say it)."""
    return StateVersion(
        unit_id=unit_id,
        number=int(doc["number"]),
        serial=doc.get("serial"),
        lineage=doc.get("lineage"),
        size=int(doc["size"]),
        sha256=str(doc["sha256"]),
        md5=str(doc["md5"]),
        created=parse_time(doc["created"]),
        author=str(doc.get("author") or ""),
        surface=str(doc.get("surface") or ""),
        quarantined=bool(doc.get("quarantined", False)),
        note=str(doc.get("note") or ""),
        restored_from=doc.get("restored_from"),
    )


# -- diffs ---------------------------------------------------------------------


def diff_json(d: StateDiff) -> dict[str, Any]:
    """What changed between two versions: resources by address, outputs with
    their values (sensitive ones already masked by ``taco_core.diff``)."""

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


def parse_diff(doc: Mapping[str, Any]) -> StateDiff:
    """The core's ``StateDiff`` from ``diff_json``'s shape."""
    resources, outputs = doc["resources"], doc["outputs"]

    def output(o: dict[str, Any]) -> OutputChange:
        return OutputChange(o["name"], o["before"], o["after"], bool(o["sensitive"]))

    return StateDiff(
        from_version=doc["from_version"],
        to_version=doc["to_version"],
        from_serial=doc["from_serial"],
        to_serial=doc["to_serial"],
        resources_added=tuple(resources["added"]),
        resources_removed=tuple(resources["removed"]),
        resources_changed=tuple(
            ResourceChange(c["address"], tuple(c["changed_attributes"]))
            for c in resources["changed"]
        ),
        outputs_added=tuple(output(o) for o in outputs["added"]),
        outputs_removed=tuple(output(o) for o in outputs["removed"]),
        outputs_changed=tuple(output(o) for o in outputs["changed"]),
    )


# -- API tokens ----------------------------------------------------------------


def api_token_json(token: ApiToken) -> dict[str, Any]:
    """An API token's record as listed; never its secret or the secret's hash."""
    return {
        "id": token.id,
        "name": token.name,
        "subject": token.subject,
        "email": token.email,
        "groups": list(token.groups),
        "created": rfc3339(token.created),
        "created_by": token.created_by,
        "expires": rfc3339(token.expires) if token.expires else None,
        "revoked": rfc3339(token.revoked) if token.revoked else None,
    }


def parse_api_token(doc: Mapping[str, Any]) -> ApiToken:
    """A token record from ``api_token_json``'s shape; the hash stays on the
    server, so ``secret_hash`` is empty."""
    expires, revoked = doc.get("expires"), doc.get("revoked")
    return ApiToken(
        id=str(doc["id"]),
        name=str(doc.get("name") or ""),
        secret_hash="",
        subject=str(doc.get("subject") or ""),
        created=parse_time(doc["created"]),
        created_by=str(doc.get("created_by") or ""),
        email=str(doc.get("email") or ""),
        groups=[str(g) for g in doc.get("groups") or []],
        expires=parse_time(expires) if expires else None,
        revoked=parse_time(revoked) if revoked else None,
    )
