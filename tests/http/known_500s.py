"""Generated requests known to get a 500 until the hardening branch (issue
17, defects 1-10) is merged.

DELETE THIS MODULE (and its uses in tests/http/test_fuzz.py and
tests/http/test_no_server_errors.py) once ``harden`` is merged: every case
below is one of its listed defects, and it fixes them all.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

# Defect 2: a lock body without an ID ({}, an empty body, {"id": null}, no
# "id" at all), or an unlock body that has fields but no ID, raises
# TypeError building the LockInfo.
_LOCKS = {("POST", "/v1/units/{id}/lock"), ("LOCK", "/v1/backend/{id}")}
_UNLOCKS = {
    ("POST", "/v1/units/{id}/unlock"),
    ("DELETE", "/v1/units/{id}/unlock"),
    ("UNLOCK", "/v1/backend/{id}"),
}


def lock_body_without_id(method: str, template: str, body: object) -> bool:
    """A lock or unlock request that names no lock ID where the handler needs one."""
    route = (method.upper(), template)
    if route not in _LOCKS | _UNLOCKS:
        return False
    if not isinstance(body, dict):
        return route in _LOCKS  # no body at all reads as {}
    if not body:
        return route in _LOCKS
    return {str(k).lower(): v for k, v in body.items()}.get("id") is None


# Defect 2: a number too big for SQLite (or datetime) in a numeric parameter
# or field raises OverflowError.
SQLITE_MAX = 2**63 - 1


def too_big(value: object) -> bool:
    """An integer, or a text ``int()`` reads, beyond SQLite's 64 bits."""
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            return False
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > SQLITE_MAX


# Defect 2: a numeric parameter with Unicode digits ("²" passes isdigit()).
def unicode_digits(value: object) -> bool:
    return isinstance(value, str) and value.isdigit() and not value.isascii()


# Defect 2: JSON nested deeper than the parser's recursion limit, or holding
# an integer of thousands of digits.
def deeply_nested(raw: bytes) -> bool:
    depth = deepest = 0
    for byte in raw:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest >= 100  # the limit depends on how deep the stack already is


def long_digit_run(raw: bytes) -> bool:
    run = longest = 0
    for byte in raw:
        run = run + 1 if 48 <= byte <= 57 else 0
        longest = max(longest, run)
    return longest > 18


# Defect 2: a restore timestamp without a time zone is compared with aware ones.
def naive_timestamp(body: object) -> bool:
    stamp = body.get("timestamp") if isinstance(body, dict) else None
    if not isinstance(stamp, str):
        return False
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).tzinfo is None
    except ValueError:
        return False


# Defect 2 ("invalid code point"): JSON may spell a lone surrogate
# ("\\ud800"), which no UTF-8 store or answer can hold.
def lone_surrogate(doc: object) -> bool:
    try:
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except (TypeError, ValueError, RecursionError):
        return False  # not JSON at all (no body), or not this defect
    return False


NO_BODY = object()


def _parsed(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def known_http_defect(
    method: str, template: str, *, body: Any, raw: bytes | None, values: tuple[object, ...]
) -> str | None:
    """Which listed defect a request of tests/http/test_no_server_errors.py hits, or ``None``."""
    sent = body if body is not NO_BODY else None
    if raw is not None:
        sent = _parsed(raw) if raw.strip() else None
    if lock_body_without_id(method, template, sent):
        return "defect 2: lock/unlock body without an ID"
    if any(too_big(v) for v in values) or (
        isinstance(sent, dict) and any(too_big(sent.get(k)) for k in ("serial", "version"))
    ):
        return "defect 2: a number too big for SQLite"
    if any(unicode_digits(v) for v in values):
        return "defect 2: Unicode digits in a numeric parameter"
    if lone_surrogate(sent):
        return "defect 2: an invalid code point (a lone surrogate) in a JSON body"
    if naive_timestamp(sent):
        return "defect 2: a restore timestamp without a time zone"
    if raw is not None and deeply_nested(raw):
        return "defect 2: JSON nested ~1,000 deep"
    if raw is not None and long_digit_run(raw):
        return "defect 2: an integer of thousands of digits"
    return None


def known_defect(case: Any) -> str | None:
    """Which listed defect a schemathesis case hits, or ``None``."""
    if lock_body_without_id(case.method, case.path, case.body):
        return "defect 2: lock/unlock body without an ID"
    if lone_surrogate(case.body):
        return "defect 2: an invalid code point (a lone surrogate) in a JSON body"
    return None
