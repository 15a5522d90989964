"""JSON read and written byte for byte as the reference's Go code does it.

Edge digests are hashes of the *canonical JSON* of an output's value. The
reference computes it in Go: it decodes the state with ``encoding/json`` into
``interface{}`` values (every number becomes a ``float64``) and writes each value
back with sorted keys, no whitespace, numbers and strings as ``json.Marshal``
writes them. Graph states written by the reference hold digests computed that
way, so ours must produce the same bytes: any difference would turn every edge
``pending`` after a migration. The rules below follow Go 1.22+ (the reference
builds with Go 1.25):

- a number is decoded as the nearest ``float64``, so integers beyond 2**53 lose
  precision; a number out of ``float64`` range decodes as ``null`` (Go records a
  type error and leaves the value nil, and the reference ignores that error);
  ``NaN`` and ``Infinity`` are not JSON and make the whole document unreadable;
- a number is written like ES6's number-to-string: the shortest digits that
  read back as the same ``float64``, in plain notation when
  ``1e-6 <= |x| < 1e21`` (or zero, with ``-0`` kept), otherwise in exponent
  notation with a signed exponent of at least one digit (``1e+21``, ``1e-7``);
- a string is written with ``\\"``, ``\\\\``, ``\\b``, ``\\f``, ``\\n``, ``\\r``,
  ``\\t`` and ``\\u00XX`` (lower-case hex) for other control characters; ``<``,
  ``>``, ``&``, U+2028 and U+2029 are escaped as ``\\u003c`` and so on (Go's HTML
  escaping, on by default); everything else, including U+007F and non-ASCII,
  is written as raw UTF-8;
- an escaped lone surrogate (``"\\ud800"``) decodes as U+FFFD, as Go does;
- object keys are sorted by their UTF-8 bytes (the same order as code points).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

# An escaped UTF-16 surrogate in JSON text. Valid UTF-8 cannot carry a raw
# surrogate, so a lone one can only come from an escape.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_REPLACEMENT = "\ufffd"

_HTML_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def _not_json(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON value")


def _as_float64(text: str) -> float | None:
    value = float(text)
    return None if math.isinf(value) else value


class _Pairs(list[tuple[str, Any]]):
    """An object's members in document order, before Go's key clean-up."""


def _clean(value: Any) -> Any:
    """Replace lone surrogates with U+FFFD everywhere and build objects from
    their members in document order, so keys that become equal collapse the
    way Go's map assignment does (the last one wins)."""
    if isinstance(value, str):
        return _SURROGATE.sub(_REPLACEMENT, value)
    if isinstance(value, _Pairs):
        return {_SURROGATE.sub(_REPLACEMENT, k): _clean(v) for k, v in value}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def has_surrogate_escape(text: str) -> bool:
    """Whether JSON text escapes a UTF-16 surrogate (the only way a decoded
    string can hold a lone one)."""
    return _SURROGATE_ESCAPE.search(text) is not None


def replace_lone_surrogates(value: Any) -> Any:
    """A decoded value with every lone surrogate replaced by U+FFFD, as Go
    decodes them (keys included; no key collapsing)."""
    if isinstance(value, str):
        return _SURROGATE.sub(_REPLACEMENT, value)
    if isinstance(value, dict):
        return {
            _SURROGATE.sub(_REPLACEMENT, k): replace_lone_surrogates(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [replace_lone_surrogates(item) for item in value]
    return value


def loads_like_go(data: bytes | bytearray | str) -> Any:
    """Decode ``data`` into the values Go's ``json.Unmarshal`` gives an ``interface{}``.

    Numbers come back as ``float`` (or ``None`` when out of range), strings with
    lone surrogates replaced. Raises ``ValueError`` where Go would refuse the
    document (not UTF-8, not JSON, ``NaN``) and ``RecursionError`` when it is
    nested deeper than Python's parser goes.
    """
    text = data if isinstance(data, str) else bytes(data).decode("utf-8")
    if not has_surrogate_escape(text):
        return json.loads(
            text, parse_int=_as_float64, parse_float=_as_float64, parse_constant=_not_json
        )
    return _clean(
        json.loads(
            text,
            parse_int=_as_float64,
            parse_float=_as_float64,
            parse_constant=_not_json,
            object_pairs_hook=_Pairs,
        )
    )


def go_float(value: float) -> str:
    """``value`` as Go's ``json.Marshal(float64)`` writes it."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{value!r} has no JSON form")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    # Python's repr is the shortest string that reads back as the same float,
    # choosing the nearest when several are as short, as Go's formatter does.
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    # The value is 0.<digits> * 10**point; normalise away zeros at both ends.
    point = len(whole) + int(exponent or 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    if 1e-6 <= abs(value) < 1e21:
        if point <= 0:
            text = "0." + "0" * -point + digits
        elif point >= len(digits):
            text = digits + "0" * (point - len(digits))
        else:
            text = digits[:point] + "." + digits[point:]
    else:
        power = point - 1
        text = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        text += f"e+{power}" if power >= 0 else f"e-{-power}"
    return sign + text


def go_quote(value: str) -> str:
    """``value`` as Go's ``json.Marshal(string)`` writes it (HTML escaping on)."""
    if _SURROGATE.search(value):
        value = _SURROGATE.sub(_REPLACEMENT, value)
    # Python escapes exactly the characters Go escapes apart from the HTML and
    # JavaScript ones, with the same short forms and lower-case hex.
    return json.dumps(value, ensure_ascii=False).translate(_HTML_ESCAPES)


class _Raw(str):
    """Output text queued between values (never a value itself)."""


def _number(value: int | float) -> str:
    if isinstance(value, int):
        try:
            value = float(value)
        except OverflowError:
            return "null"
    if math.isinf(value):
        return "null"
    return go_float(value)


def _object_items(value: dict[Any, Any]) -> list[tuple[str, Any]]:
    items: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError(f"object keys must be strings, got {key!r}")
        items[_SURROGATE.sub(_REPLACEMENT, key)] = item
    return sorted(items.items(), key=lambda pair: pair[0])


def canonical_json(value: Any) -> bytes:
    """The reference's canonical JSON of a decoded value (see the module doc).

    Accepts what ``loads_like_go`` or ``json.loads`` return, and tuples. An
    ``int`` is first rounded to ``float64``, as Go would have decoded it.
    Iterative, so no nesting depth that the parser accepted can overflow it.
    """
    out: list[str] = []
    emit: Callable[[str], None] = out.append
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if type(item) is _Raw:
            emit(item)
        elif item is None:
            emit("null")
        elif item is True:
            emit("true")
        elif item is False:
            emit("false")
        elif isinstance(item, str):
            emit(go_quote(item))
        elif isinstance(item, int | float):
            emit(_number(item))
        elif isinstance(item, dict):
            pairs = _object_items(item)
            stack.append(_Raw("}"))
            for index in range(len(pairs) - 1, -1, -1):
                key, member = pairs[index]
                stack.append(member)
                stack.append(_Raw(("," if index else "") + go_quote(key) + ":"))
            emit("{")
        elif isinstance(item, list | tuple):
            stack.append(_Raw("]"))
            for index in range(len(item) - 1, -1, -1):
                stack.append(item[index])
                if index:
                    stack.append(_Raw(","))
            emit("[")
        else:
            raise TypeError(f"{type(item).__name__} has no canonical JSON form")
    return "".join(out).encode("utf-8")


def go_string(value: Any) -> str:
    """An attribute value as text, the way the reference reads one (its
    ``getString``): a string as is, ``null`` as ``""``, anything else as its JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return canonical_json(value).decode("utf-8")
