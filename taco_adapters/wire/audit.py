"""The audit trail on the wire: ``GET /v1/audit``'s page of records, and back.

A record's shape is the core's ``AuditRecord``, field for field, with its
time in RFC 3339; the page carries the cursor of the next one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import frozen

from taco_adapters.wire.converter import parse_time, rfc3339
from taco_core.audit import AuditPage, AuditRecord


@frozen
class AuditPageDoc:
    """Records oldest first; ``next``, when set, is the ``after`` of the next page."""

    records: list[AuditRecord]
    count: int
    next: str | None


def audit_record_json(r: AuditRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "at": rfc3339(r.at),
        "action": r.action,
        "subject": r.subject,
        "principal_kind": r.principal_kind,
        "token_id": r.token_id,
        "unit_id": r.unit_id,
        "version": r.version,
        "lock_id": r.lock_id,
        "detail": r.detail,
        "origin": r.origin,
        "surface": r.surface,
        "request_id": r.request_id,
    }


def audit_record_from_json(doc: Mapping[str, Any]) -> AuditRecord:
    version = doc.get("version")
    return AuditRecord(
        id=str(doc["id"]),
        at=parse_time(doc["at"]),
        action=str(doc.get("action") or ""),
        subject=str(doc.get("subject") or ""),
        principal_kind=str(doc.get("principal_kind") or ""),
        token_id=str(doc.get("token_id") or ""),
        unit_id=str(doc.get("unit_id") or ""),
        version=int(version) if version is not None else None,
        lock_id=str(doc.get("lock_id") or ""),
        detail=str(doc.get("detail") or ""),
        origin=str(doc.get("origin") or ""),
        surface=str(doc.get("surface") or ""),
        request_id=str(doc.get("request_id") or ""),
    )


def audit_page_json(page: AuditPage) -> dict[str, Any]:
    return {
        "records": [audit_record_json(r) for r in page.records],
        "count": len(page.records),
        "next": page.next,
    }


def audit_page_from_json(doc: Mapping[str, Any]) -> AuditPage:
    next_cursor = doc.get("next")
    return AuditPage(
        tuple(audit_record_from_json(r) for r in doc.get("records") or []),
        str(next_cursor) if next_cursor else None,
    )
