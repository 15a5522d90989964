"""``GET /v1/audit``: the audit trail, oldest first, a page at a time.

Query parameters: ``unit`` and ``subject`` (exact matches), ``since`` (RFC
3339 with a time zone), ``limit`` (1 to 1000, default 100) and ``after``
(the previous page's ``next``). Who may read it is the core's decision
(``AuditService.query``: ``audit.read`` on ``*``, which ``rbac.manage``
implies).
"""

from __future__ import annotations

import re
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from taco_adapters.wire import AuditPageDoc, audit_page_json
from taco_core.audit import DEFAULT_PAGE, MAX_PAGE, AuditQuery
from taco_core.errors import InvalidInput
from taco_core.model import Surface
from taco_http.auth import caller_of
from taco_http.context import services_of
from taco_http.operations import Operation, Param, errors, ok

_DIGITS = re.compile(r"[0-9]{1,6}")


def _since(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"since must be an RFC 3339 time such as 2026-01-01T00:00:00Z, got {raw[:60]!r}"
        ) from None


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE
    if not _DIGITS.fullmatch(raw):
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_PAGE}, got {raw[:20]!r}")
    return int(raw)


async def audit(request: Request) -> Response:
    params = request.query_params
    query = AuditQuery(
        unit=params.get("unit", ""),
        subject=params.get("subject", ""),
        since=_since(params.get("since")),
        after=params.get("after", ""),
        limit=_limit(params.get("limit")),
    )
    page = await services_of(request).audit.query(caller_of(request, Surface.API), query)
    return JSONResponse(audit_page_json(page))


OPERATIONS = (
    Operation(
        "GET",
        "/v1/audit",
        "The audit trail, oldest first",
        "audit",
        description="Who did what to which unit, when and from where: state writes and "
        "refusals, restores, locks, unlocks and force-unlocks, deletes and undeletes, label "
        "changes, denied access, API tokens, RBAC changes, organizations and their members, "
        "through every surface (the record's surface says which). Needs the audit.read "
        "permission on every unit (*), which rbac.manage implies. Follow `next` (as `after`) "
        "for the next page; a page may be short while `next` is set.",
        params=(
            Param("unit", "query", "only records about this unit (exact ID)"),
            Param("subject", "query", "only records of this subject (exact)"),
            Param(
                "since",
                "query",
                "only records made at or after this time (RFC 3339, with a time zone)",
                schema={"format": "date-time"},
            ),
            Param(
                "limit",
                "query",
                f"records per page, 1 to {MAX_PAGE} (default {DEFAULT_PAGE})",
                kind=int,
                schema={"minimum": 1, "maximum": MAX_PAGE},
            ),
            Param("after", "query", "the previous page's `next`"),
        ),
        replies=(ok(AuditPageDoc), *errors(400, 403)),
    ),
)
