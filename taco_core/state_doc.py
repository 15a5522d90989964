"""Reading the few facts the core needs out of a Terraform state payload.

The payload stays opaque bytes: it is parsed once to check that it is a JSON
object and to read ``serial`` and ``lineage``, and is never re-serialised.

That parse also refuses what later steps could not handle: arrays and objects
nested deeper than ``MAX_NESTING`` (a diff or a restore walks a stored state
recursively, within Python's recursion limit) and a ``serial`` no store can
keep.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from taco_core.errors import InvalidState
from taco_core.model import MAX_NUMBER, Payload, StateFacts

# How deeply arrays and objects may nest in a state. Terraform's own states
# nest about a dozen levels; this leaves room for any real one while keeping
# every recursive walk of a stored state far from Python's recursion limit.
MAX_NESTING = 256


def fingerprint(data: Payload) -> tuple[str, str]:
    """Hex SHA-256 and hex MD5 of the bytes (MD5 is what Terraform and TFE check)."""
    return hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_base64(md5_hex: str) -> str:
    """The ``Content-MD5`` header form of a hex MD5."""
    return base64.b64encode(bytes.fromhex(md5_hex)).decode("ascii")


def _parse(data: Payload, hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    if not data.strip():
        raise InvalidState("state is empty: expected a JSON object")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidState(f"state is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    try:
        return json.loads(text, object_pairs_hook=hook)
    except json.JSONDecodeError as exc:
        raise InvalidState(
            f"state is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        # Python's parser gives up before any depth check could run.
        raise too_deep() from None
    except ValueError as exc:
        # An integer longer than Python converts (4300 digits by default).
        raise InvalidState(f"state is not valid JSON: {str(exc).split(';')[0]}") from None


def too_deep() -> InvalidState:
    return InvalidState(
        f"state nests arrays and objects more than {MAX_NESTING} levels deep, the limit"
    )


def _not_an_object(doc: Any) -> InvalidState:
    kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(doc), "number"
    )
    return InvalidState(f"state must be a JSON object, got a JSON {kind}")


def load_object(data: Payload) -> dict[str, Any]:
    """Parse ``data`` as a JSON object or raise ``InvalidState`` saying why."""
    doc = _parse(data)
    if not isinstance(doc, dict):
        raise _not_an_object(doc)
    return doc


class _Nested:
    """What ``_OuterFields`` leaves in place of a parsed object: its depth."""

    __slots__ = ("depth",)

    def __init__(self, depth: int) -> None:
        self.depth = depth


def _list_depth(items: list[Any]) -> int:
    """How deeply ``items`` nests (1 for a list of scalars), walked without
    recursion; objects in it are ``_Nested`` markers already."""
    deepest = 1
    pending = [(items, 1)]
    while pending:
        current, level = pending.pop()
        for item in current:
            kind = type(item)
            if kind is _Nested:
                deepest = max(deepest, level + item.depth)
            elif kind is list:
                deepest = max(deepest, level + 1)
                pending.append((item, level + 1))
    return deepest


class _OuterFields:
    """An ``object_pairs_hook`` that keeps only the outermost object's fields
    and measures how deeply the document nests.

    Every nested object is replaced by a ``_Nested`` marker as soon as it is
    parsed, so validating a state costs about the size of its text instead
    of its whole object tree (several times larger). The outermost object is
    parsed last, so the last pairs seen are its fields. An object deeper than
    ``MAX_NESTING`` stops the parse at once.
    """

    def __init__(self) -> None:
        self.fields: list[tuple[str, Any]] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> _Nested:
        self.fields = pairs
        inner = 0
        for _, value in pairs:
            kind = type(value)
            if kind is _Nested:
                inner = max(inner, value.depth)
            elif kind is list:
                inner = max(inner, _list_depth(value))
        if inner >= MAX_NESTING:
            raise too_deep()
        return _Nested(inner + 1)


def facts_of(doc: Mapping[str, Any], data: Payload) -> StateFacts:
    """The facts of an already parsed state; ``InvalidState`` on mistyped fields."""
    serial = doc.get("serial")
    if serial is not None and (
        isinstance(serial, bool) or not isinstance(serial, int) or serial < 0
    ):
        raise InvalidState(f"state field 'serial' must be a non-negative integer, got {serial!r}")
    if serial is not None and serial > MAX_NUMBER:
        raise InvalidState(
            f"state field 'serial' must be at most {MAX_NUMBER} (a signed 64-bit integer)"
        )
    lineage = doc.get("lineage")
    if lineage is not None and not isinstance(lineage, str):
        raise InvalidState(f"state field 'lineage' must be a string, got {lineage!r}")
    if lineage is not None and not lineage.isascii():
        try:
            lineage.encode("utf-8")
        except UnicodeEncodeError:
            # JSON can spell a lone surrogate ("\ud800"); no store can keep one.
            raise InvalidState(
                f"state field 'lineage' is not valid Unicode text: {lineage!r}"
            ) from None
    sha256, md5 = fingerprint(data)
    return StateFacts(
        serial=serial, lineage=lineage or None, size=len(data), sha256=sha256, md5=md5
    )


def read_facts(data: Payload) -> StateFacts:
    """Validate ``data`` as a state (a JSON object) and return its facts,
    without building the state's object tree."""
    outer = _OuterFields()
    doc = _parse(data, outer)
    if not isinstance(doc, _Nested):
        raise _not_an_object(doc)
    return facts_of(dict(outer.fields), data)
