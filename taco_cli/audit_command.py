"""``taco audit``: the audit trail, from a server or a local file.

Like the unit commands it works on a port (``AuditTrail``), so it never knows
whether the records came over HTTP or from the embedded store. It reads page
after page until ``--limit`` records are shown or the trail ends, and says
how to go on when there are more.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import attrs
from attrs import frozen

from taco_adapters.wire import audit_record_json
from taco_cli.output import Output, table, when
from taco_core.audit import MAX_PAGE, AuditQuery, AuditRecord
from taco_core.ports import AuditTrail

AuditHandler = Callable[["AuditContext", argparse.Namespace], Awaitable[None]]


@frozen
class AuditContext:
    """What ``taco audit`` needs, wired by ``taco_cli.main``."""

    trail: AuditTrail
    out: Output
    now: datetime


def _who(r: AuditRecord) -> str:
    if r.token_id:
        return f"{r.subject} (token {r.token_id})"
    return r.subject


def _what(r: AuditRecord) -> str:
    parts = [r.unit_id] if r.unit_id else []
    if r.version is not None:
        parts.append(f"v{r.version}")
    if r.lock_id:
        parts.append(f"lock {r.lock_id}")
    if r.detail:
        parts.append(f"({r.detail})")
    return " ".join(parts)


def record_lines(records: list[AuditRecord]) -> list[str]:
    if not records:
        return ["No audit records."]
    return table(
        ("TIME", "ACTION", "WHO", "WHAT", "FROM", "REQUEST"),
        (
            (
                when(r.at),
                r.action,
                _who(r),
                _what(r),
                " ".join(x for x in (r.surface, r.origin) if x),
                r.request_id,
            )
            for r in records
        ),
    )


async def audit(ctx: AuditContext, args: argparse.Namespace) -> None:
    since: datetime | timedelta | None = args.since
    if isinstance(since, timedelta):
        since = ctx.now - since
    wanted: int = args.limit
    query = AuditQuery(
        unit=args.unit or "",
        subject=args.subject or "",
        since=since,
        after=args.after or "",
        limit=min(wanted, MAX_PAGE),
    )
    records: list[AuditRecord] = []
    cursor: str | None = None
    while True:
        page = await ctx.trail.query(query)
        records += page.records
        cursor = page.next
        if cursor is None or len(records) >= wanted:
            break
        query = attrs.evolve(query, after=cursor, limit=min(wanted - len(records), MAX_PAGE))
    lines = record_lines(records)
    if cursor is not None:
        lines.append(f"More records follow: add --after {cursor}")
    ctx.out.result(
        {
            "records": [audit_record_json(r) for r in records],
            "count": len(records),
            "next": cursor,
        },
        lines,
    )


AUDIT_HANDLERS: dict[str, AuditHandler] = {"audit": audit}
