"""Reading the few facts the core needs out of a Terraform state payload.

The payload stays opaque bytes: it is parsed once to check that it is a JSON
object and to read ``serial`` and ``lineage``, and is never re-serialised.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from taco_core.errors import InvalidState
from taco_core.model import Payload, StateFacts


def fingerprint(data: Payload, md5: str | None = None) -> tuple[str, str]:
    """Hex SHA-256 and hex MD5 of the bytes (MD5 is what Terraform and TFE
    check); ``md5`` when the caller computed it already."""
    if md5 is None:
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    return hashlib.sha256(data).hexdigest(), md5


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


class _OuterFields:
    """An ``object_pairs_hook`` that keeps only the outermost object's fields.

    Every nested object is replaced by a marker as soon as it is parsed, so
    validating a state costs about the size of its text instead of its whole
    object tree (several times larger). The outermost object is parsed last,
    so the last pairs seen are its fields.
    """

    MARK = object()

    def __init__(self) -> None:
        self.fields: list[tuple[str, Any]] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> object:
        self.fields = pairs
        return self.MARK


def facts_of(doc: Mapping[str, Any], data: Payload, md5: str | None = None) -> StateFacts:
    """The facts of an already parsed state; ``InvalidState`` on mistyped fields."""
    serial = doc.get("serial")
    if serial is not None and (
        isinstance(serial, bool) or not isinstance(serial, int) or serial < 0
    ):
        raise InvalidState(f"state field 'serial' must be a non-negative integer, got {serial!r}")
    lineage = doc.get("lineage")
    if lineage is not None and not isinstance(lineage, str):
        raise InvalidState(f"state field 'lineage' must be a string, got {lineage!r}")
    sha256, md5 = fingerprint(data, md5)
    return StateFacts(
        serial=serial, lineage=lineage or None, size=len(data), sha256=sha256, md5=md5
    )


def read_facts(data: Payload, *, md5: str | None = None) -> StateFacts:
    """Validate ``data`` as a state (a JSON object) and return its facts,
    without building the state's object tree. ``md5``: the hex MD5 of
    ``data`` when the caller computed it already."""
    outer = _OuterFields()
    doc = _parse(data, outer)
    if doc is not _OuterFields.MARK:
        raise _not_an_object(doc)
    return facts_of(dict(outer.fields), data, md5)
