"""Reading the UI's forms, and refusing forged ones (CSRF).

Every state-changing UI request is a POST of an
``application/x-www-form-urlencoded`` form carrying ``csrf_token``, the
session's secret, which another site cannot read and so cannot put in a
form it makes a browser submit (the synchronizer token pattern). The
``SameSite=Lax`` session cookie already keeps it off cross-site POSTs in
current browsers, and a browser's ``Sec-Fetch-Site: cross-site`` is refused
outright; the token is what holds for every browser. Query parameters of the
read-only pages are parsed here too, into typed values or ``InvalidInput``
(400), never an error page from a bad link.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl

from taco_core.errors import Forbidden, InvalidInput
from taco_core.model import MAX_NUMBER
from taco_http.body import read_body
from taco_http.ui.frame import Visit

# A UI form holds a few short fields.
FORM_LIMIT = 16 * 1024
_MAX_FIELDS = 50
_FORGED = (
    "this form did not come from this OpenTaco page (its CSRF token is missing or stale): "
    "reload the page and submit it again"
)


async def read_form(visit: Visit) -> dict[str, str]:
    """The submitted form, checked to come from one of our pages
    (``Forbidden`` otherwise); the first value of a repeated field wins."""
    request = visit.request
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        raise Forbidden(_FORGED)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise InvalidInput("a UI form must be sent as application/x-www-form-urlencoded")
    body = await read_body(request, FORM_LIMIT, "form")
    try:
        pairs = parse_qsl(
            bytes(body).decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput(f"the form is not UTF-8 text of at most {_MAX_FIELDS} fields") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    token = form.get("csrf_token", "")
    if not hmac.compare_digest(token.encode(), visit.session.csrf.encode()):
        raise Forbidden(_FORGED)
    return form


def number(raw: str | None, what: str) -> int | None:
    """A whole number from a field or parameter (``None`` when empty)."""
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_NUMBER)):
        raise InvalidInput(f"{what} must be a whole number, got {raw[:40]!r}")
    value = int(text)
    if value > MAX_NUMBER:
        raise InvalidInput(f"{what} must be at most {MAX_NUMBER}")
    return value


def bounded(raw: str | None, what: str, *, default: int, low: int, high: int) -> int:
    """``number`` within ``low``..``high``; ``default`` when not given."""
    value = number(raw, what)
    if value is None:
        return default
    if not low <= value <= high:
        raise InvalidInput(f"{what} must be between {low} and {high}, got {value}")
    return value


def text(raw: str | None, what: str, *, limit: int = 255) -> str:
    """A short line of text: no control characters, at most ``limit`` long."""
    value = (raw or "").strip()
    if len(value) > limit:
        raise InvalidInput(f"{what} must be at most {limit} characters")
    if any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF or ord(c) == 127 for c in value):
        raise InvalidInput(f"{what} must not contain control characters")
    return value
