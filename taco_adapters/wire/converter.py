"""The cattrs converter every wire shape is registered on, and the two rules
of the wire format all shapes share: times are RFC 3339 in UTC, and a request
body that does not fit its shape is refused with a readable reason.

Validation happens here, at the edge, and nowhere in the core: a request
structured by ``structure`` is well-typed, or ``InvalidInput`` says which
field is wrong and why (``cattrs.transform_error``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import cattrs
from cattrs.v import format_exception

from taco_core.errors import InvalidInput
from taco_core.model import MAX_NUMBER

T = TypeVar("T")

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


def check_text(value: str) -> str:
    """``value``, or ``ValueError`` when it holds a lone surrogate (JSON's
    ``"\\ud800"``): no store, log or answer can encode it as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{value!r} is not valid Unicode text (a lone surrogate)") from None
    return value


def _strict_str(value: object, _: type) -> str:
    # cattrs would turn 5 into "5"; an ID or label that is not a string is a mistake.
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__} {value!r}")
    return check_text(value)


def _strict_int(value: object, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__} {value!r}")
    if not -MAX_NUMBER - 1 <= value <= MAX_NUMBER:
        # Every number on the wire names something a store keeps as a 64-bit integer.
        raise ValueError(f"expected an integer of at most {MAX_NUMBER} in size")
    return value


def _time(value: object, _: type) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an RFC 3339 time, got {type(value).__name__} {value!r}")
    return parse_time(value)


converter = cattrs.Converter(forbid_extra_keys=False)
"""Structures request bodies strictly (no coercion of ``5`` into ``"5"``) and
unstructures the shapes that are their attrs classes as they are."""

converter.register_structure_hook(str, _strict_str)
converter.register_structure_hook(int, _strict_int)
converter.register_structure_hook(datetime, _time)
converter.register_unstructure_hook(datetime, rfc3339)


def _reason(exc: BaseException, type_: type | None) -> str:
    # The hooks above say what is wrong; cattrs' default would only name the type.
    if isinstance(exc, ValueError) and str(exc):
        return f"invalid value ({exc})"
    return format_exception(exc, type_)


def structure(doc: Mapping[str, Any], cls: type[T], what: str) -> T:
    """``doc`` as a ``cls``, or ``InvalidInput`` naming ``what`` and every
    field that does not fit."""
    try:
        return converter.structure(doc, cls)
    except cattrs.BaseValidationError as exc:
        detail = "; ".join(cattrs.transform_error(exc, format_exception=_reason))
    except (TypeError, ValueError, KeyError) as exc:
        detail = str(exc)
    raise InvalidInput(f"invalid {what}: {detail}") from None
