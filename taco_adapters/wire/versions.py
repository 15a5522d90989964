"""History entries on the wire, and the answers that carry one.

A write's answer and a download's headers carry the whole version record, so
a client learns what it wrote or read in the same round trip.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from attrs import frozen

from taco_adapters.wire.converter import parse_time, rfc3339
from taco_core.model import StateVersion, UnitId, WriteResult

# The header of a state download (and of one version's bytes) that carries
# the version record as compact JSON; ``VERSION_HEADER`` has just its number.
VERSION_HEADER = "X-OpenTaco-Version"
RECORD_HEADER = "X-OpenTaco-Version-Record"
QUARANTINED_HEADER = "X-OpenTaco-Quarantined"


@frozen
class VersionDoc:
    """A history entry (``version_json``): the reference's ``timestamp``,
    ``hash`` (the SHA-256's first 8 digits) and ``size``, plus ours."""

    number: int
    timestamp: datetime
    hash: str
    size: int
    serial: int | None
    lineage: str | None
    sha256: str
    md5: str
    created: datetime
    author: str
    surface: str
    quarantined: bool
    note: str
    restored_from: int | None


@frozen
class VersionPageDoc:
    """One page of a unit's history, newest first (``versions_page_json``)."""

    unit_id: str
    versions: list[VersionDoc]
    count: int
    total: int
    offset: int
    limit: int


@frozen
class UploadDoc:
    """The answer to an upload (``upload_json``)."""

    message: str
    version: int
    version_record: VersionDoc
    changed: bool
    forced: bool


@frozen
class RestoredDoc:
    """The answer to a restore (``restored_json``)."""

    unit_id: str
    restored_version: int
    restored_timestamp: datetime
    version: VersionDoc
    message: str


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


def version_from_json(doc: Mapping[str, Any], unit_id: UnitId) -> StateVersion:
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


def version_headers(v: StateVersion) -> dict[str, str]:
    """The headers beside a version's bytes: its number, whether it is
    quarantined, and its whole record (ASCII JSON, so any header carries it)."""
    return {
        VERSION_HEADER: str(v.number),
        QUARANTINED_HEADER: str(v.quarantined).lower(),
        RECORD_HEADER: json.dumps(version_json(v), separators=(",", ":")),
    }


def version_from_headers(headers: Mapping[str, str], unit_id: UnitId) -> StateVersion | None:
    """The record ``version_headers`` sent, or ``None`` when there is none."""
    record = headers.get(RECORD_HEADER)
    if record is None:
        return None
    return version_from_json(json.loads(record), unit_id)


def versions_page_json(
    unit_id: UnitId, page: Sequence[StateVersion], *, total: int, offset: int, limit: int
) -> dict[str, Any]:
    """One page of a unit's history, newest first, and where it sits in the whole."""
    return {
        "unit_id": unit_id,
        "versions": [version_json(v) for v in page],
        "count": len(page),
        "total": total,
        "offset": offset,
        "limit": limit,
    }


def upload_json(result: WriteResult, *, forced: bool) -> dict[str, Any]:
    """The answer to an upload: the current version's number and record,
    whether the write changed anything, and a sentence for people."""
    message = "Unit uploaded successfully"
    if forced and result.changed:
        message += " (forced past the clobber guard)"
    elif not result.changed:
        message = "State unchanged: identical to the current version"
    return {
        "message": message,
        "version": result.version.number,
        "version_record": version_json(result.version),
        "changed": result.changed,
        "forced": forced,
    }


def upload_from_json(doc: Mapping[str, Any], unit_id: UnitId) -> WriteResult:
    return WriteResult(
        version_from_json(doc["version_record"], unit_id),
        changed=bool(doc.get("changed", True)),
    )


def restored_json(unit_id: UnitId, number: int, version: StateVersion) -> dict[str, Any]:
    """The answer to a restore: which version came back, and the new version it made."""
    return {
        "unit_id": unit_id,
        "restored_version": number,
        "restored_timestamp": rfc3339(version.created),
        "version": version_json(version),
        "message": "Version restored",
    }


def restored_from_json(doc: Mapping[str, Any], unit_id: UnitId) -> StateVersion:
    return version_from_json(doc["version"], unit_id)
