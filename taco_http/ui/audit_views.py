"""The audit trail's page: who did what to which unit, when and from where.

The records are ``AuditService.query``'s, which needs ``audit.read`` on
every unit (``rbac.manage`` implies it); a caller without it gets the 403
page from the refusal. The trail is read oldest first, a page at a time, as
the API reads it; the page starts at a recent moment (``since``, the last
24 hours unless chosen otherwise) so the first page is today's, not the
install's first day.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from starlette.responses import Response

from taco_core.audit import AuditQuery
from taco_http.ui.forms import text
from taco_http.ui.frame import Visit
from taco_http.ui.unit_views import unit_url

PAGE_RECORDS = 100
# The choices of the "since" field: name -> how far back (None: everything).
SINCE = {
    "hour": ("the last hour", timedelta(hours=1)),
    "day": ("the last 24 hours", timedelta(days=1)),
    "week": ("the last 7 days", timedelta(days=7)),
    "month": ("the last 30 days", timedelta(days=30)),
    "all": ("the beginning", None),
}


async def audit_page(visit: Visit) -> Response:
    query = visit.request.query_params
    unit = text(query.get("unit"), "unit")
    subject = text(query.get("subject"), "subject")
    since = text(query.get("since"), "since", limit=10) or "day"
    if since not in SINCE:
        since = "day"
    after = text(query.get("after"), "after", limit=64)
    back = SINCE[since][1]
    found = await visit.services.audit.query(
        visit.caller,
        AuditQuery(
            unit=unit,
            subject=subject,
            since=visit.services.audit.clock.now() - back if back is not None else None,
            after=after,
            limit=PAGE_RECORDS,
        ),
    )
    next_link = None
    if found.next is not None:
        params = {"unit": unit, "subject": subject, "since": since, "after": found.next}
        next_link = "/ui/audit?" + urlencode({k: v for k, v in params.items() if v})
    return visit.page(
        "audit.html",
        nav="audit",
        records=found.records,
        unit=unit,
        subject=subject,
        since=since,
        choices=[(k, label) for k, (label, _) in SINCE.items()],
        after=after,
        next_link=next_link,
        unit_url=unit_url,
    )
