"""Turning a view's data into an HTML page: the Jinja2 templates, their
filters, and the headers every page carries.

Templates are package data (``taco_http/ui/templates``), autoescaped, with
undefined names an error rather than an empty string. Pages run no script
(the content security policy allows none), load only our stylesheet, may be
framed by nobody and are never cached: they show states and credentials'
owners.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# A value longer than this is cut in tables (a page is not a state viewer).
VALUE_CHARS = 300


def human_size(size: int) -> str:
    """Bytes as people read them: ``512 B``, ``1.5 KiB``, ``12 MiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


_FRACTION = re.compile(r"(\.\d{6})\d+")


def when(value: datetime | str | None) -> str:
    """A time in UTC to the second; RFC 3339 text too (a lock's ``created``,
    whose nanoseconds ``datetime`` cannot hold), shown as given if unreadable."""
    if value is None or value == "":
        return ""
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(_FRACTION.sub(r"\1", value.replace("Z", "+00:00")))
        except ValueError:
            return value
    assert isinstance(moment, datetime)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def as_json(value: Any, limit: int = VALUE_CHARS) -> str:
    """A JSON value as compact text, cut at ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("taco_http.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["size"] = human_size
    env.filters["when"] = when
    env.filters["json_value"] = as_json
    return env


ENVIRONMENT = _environment()


def html_page(
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """``template`` rendered with ``context``, with the pages' headers."""
    body = ENVIRONMENT.get_template(template).render(**context)
    return HTMLResponse(body, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})
