"""Reading the few facts the core needs out of a Terraform state payload.

The payload stays opaque bytes: it is parsed once to check that it is a JSON
object and to read ``serial`` and ``lineage``, and is never re-serialised.

A state up to ``WINDOW`` bytes is decoded and handed to the standard
library's JSON scanner (C) in one call. A larger one is parsed through a
window of its text (``_Windowed``): the scanner parses each value that fits
in the window, and the containers that do not (a large state's
``resources`` array) are walked element by element, so validating a 100 MB
state holds a few megabytes of text rather than a second, decoded copy of
the whole. Either way no object tree is built: each object is replaced by a
marker of its depth as soon as it is parsed.

That parse also refuses what later steps could not handle: arrays and objects
nested deeper than ``MAX_NESTING`` (a diff or a restore walks a stored state
recursively, within Python's recursion limit) and a ``serial`` no store can
keep.
"""

from __future__ import annotations

import base64
import codecs
import functools
import hashlib
import json
import json.decoder
import json.scanner
import re
from collections.abc import Callable, Mapping
from typing import Any

from taco_core.errors import InvalidState
from taco_core.model import MAX_NUMBER, Payload, StateFacts

# How deeply arrays and objects may nest in a state. Terraform's own states
# nest about a dozen levels; this leaves room for any real one while keeping
# every recursive walk of a stored state far from Python's recursion limit.
MAX_NESTING = 256


def fingerprint(data: Payload, md5: str | None = None) -> tuple[str, str]:
    """Hex SHA-256 and hex MD5 of the bytes (MD5 is what Terraform and TFE
    check); ``md5`` when the caller computed it already."""
    if md5 is None:
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    return hashlib.sha256(data).hexdigest(), md5


@functools.lru_cache(maxsize=4096)
def md5_base64(md5_hex: str) -> str:
    """The ``Content-MD5`` header form of a hex MD5 (every GET of a state
    sends it, mostly for the same few heads: remembered)."""
    return base64.b64encode(bytes.fromhex(md5_hex)).decode("ascii")


_NOT_BLANK = re.compile(rb"[^ \t\n\r\f\v]")


def _blank(data: Payload) -> bool:
    # ``data.strip()`` would copy a whole state to find its first character.
    return _NOT_BLANK.search(data) is None


def _parse(data: Payload, hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    if _blank(data):
        raise InvalidState("state is empty: expected a JSON object")
    try:
        text = codecs.decode(data, "utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidState(f"state is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    return _parse_text(text, hook)


def _parse_text(text: str, hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
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
        raise _too_long(exc) from None


def too_deep() -> InvalidState:
    return InvalidState(
        f"state nests arrays and objects more than {MAX_NESTING} levels deep, the limit"
    )


def _too_long(exc: ValueError) -> InvalidState:
    return InvalidState(f"state is not valid JSON: {str(exc).split(';')[0]}")


def _described(value: Any) -> str:
    """A field's value for an error message: its JSON kind for a container
    (the parse may hold a stand-in for it), a short excerpt otherwise."""
    if isinstance(value, dict | _Nested):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


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


def facts_of(doc: Mapping[str, Any], data: Payload, md5: str | None = None) -> StateFacts:
    """The facts of an already parsed state; ``InvalidState`` on mistyped fields."""
    return facts_with(doc, len(data), *fingerprint(data, md5))


def facts_with(doc: Mapping[str, Any], size: int, sha256: str, md5: str) -> StateFacts:
    """``facts_of`` with the digests computed already (callers that hash a
    large state beside its parse, on another core)."""
    serial = doc.get("serial")
    if serial is not None and (
        isinstance(serial, bool) or not isinstance(serial, int) or serial < 0
    ):
        raise InvalidState(
            f"state field 'serial' must be a non-negative integer, got {_described(serial)}"
        )
    if serial is not None and serial > MAX_NUMBER:
        raise InvalidState(
            f"state field 'serial' must be at most {MAX_NUMBER} (a signed 64-bit integer)"
        )
    lineage = doc.get("lineage")
    if lineage is not None and not isinstance(lineage, str):
        raise InvalidState(f"state field 'lineage' must be a string, got {_described(lineage)}")
    if lineage is not None and not lineage.isascii():
        try:
            lineage.encode("utf-8")
        except UnicodeEncodeError:
            # JSON can spell a lone surrogate ("\ud800"); no store can keep one.
            raise InvalidState(
                f"state field 'lineage' is not valid Unicode text: {lineage!r}"
            ) from None
    return StateFacts(serial=serial, lineage=lineage or None, size=size, sha256=sha256, md5=md5)


# The text of a state is decoded and parsed through a window this large.
WINDOW = 1024 * 1024


def read_facts(data: Payload, *, md5: str | None = None, window: int = WINDOW) -> StateFacts:
    """Validate ``data`` as a state (a JSON object) and return its facts,
    without building the state's object tree, and without decoding more than
    about ``window`` bytes of it at a time (``_Windowed``). ``md5``: the hex
    MD5 of ``data`` when the caller computed it already."""
    return facts_of(outer_fields(data, window=window), data, md5)


def outer_fields(data: Payload, *, window: int = WINDOW) -> dict[str, Any]:
    """The top-level fields of a state (nested objects and large arrays as
    stand-ins), checking that ``data`` is a JSON object as ``json.loads``
    would; ``InvalidState`` saying why not."""
    if _blank(data):
        raise InvalidState("state is empty: expected a JSON object")
    if len(data) <= window:
        return _whole_outer_fields(data)
    return _Windowed(data, window).outer_fields()


class _Nested:
    """What the parse leaves in place of an object: how deeply it nests."""

    __slots__ = ("depth",)

    def __init__(self, depth: int) -> None:
        self.depth = depth


# One shared marker per depth: the parse of a large state meets thousands of
# objects, and allocating none for them is measurably cheaper.
_MARKERS = tuple(_Nested(depth) for depth in range(MAX_NESTING + 1))


def _depth(value: Any) -> int:
    """How deeply a parsed value nests (0 for a scalar), walked without
    recursion; objects in it are ``_Nested`` markers already."""
    kind = type(value)
    if kind is _Nested:
        depth: int = value.depth
        return depth
    if kind is not list:
        return 0
    deepest = 1
    pending = [(value, 1)]
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


def _nested(pairs: list[tuple[str, Any]]) -> _Nested:
    """The ``object_pairs_hook``: an object becomes the marker of its depth;
    one deeper than ``MAX_NESTING`` stops the parse at once. It runs once per
    object of the state, so it is written for speed."""
    inner = 0
    for _, value in pairs:
        kind = type(value)
        if kind is _Nested:
            if value.depth > inner:
                inner = value.depth
        elif kind is list:
            depth = _depth(value)
            if depth > inner:
                inner = depth
    if inner >= MAX_NESTING:
        raise too_deep()
    return _MARKERS[inner + 1]


def _whole_outer_fields(data: Payload) -> dict[str, Any]:
    """``outer_fields`` of a state small enough to decode at once: one call
    of the standard C scanner over the whole text. Objects become markers as
    they complete, innermost first, so the last one completed is the
    top-level object: its fields are what the hook saw last."""
    try:
        text = codecs.decode(data, "utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidState(f"state is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    if data.count(b"[") + data.count(b"{") <= MAX_NESTING:
        # Nothing can nest deeper than the brackets it opens (those inside
        # strings only add to the count): no depth to measure, so the
        # scanner runs without a hook, which halves a small state's parse.
        doc = _parse_text(text)
        if type(doc) is not dict:
            raise _not_an_object(doc)
        return doc
    last: list[list[tuple[str, Any]]] = []

    def hook(pairs: list[tuple[str, Any]]) -> _Nested:
        marker = _nested(pairs)
        last[:] = (pairs,)
        return marker

    doc = _parse_text(text, hook)
    if type(doc) is not _Nested:
        if _depth(doc) > MAX_NESTING:
            raise too_deep()
        raise _not_an_object(doc)
    return dict(last[0])


_NUMBER_TAIL = re.compile(r"[0-9.eE+\-]*\Z")
_SPACE = re.compile(r"[ \t\n\r]*")
# The decoder's string scanner (C), which typeshed does not declare.
_scanstring: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]


class _Windowed:
    """A JSON parse of ``data`` that accepts exactly what ``json.loads``
    accepts, through a window of about ``window`` bytes of decoded text.

    Positions are absolute character positions in the whole text; the window
    holds the text from ``self.start`` on. A value is handed to the C scanner
    when it fits in the window; one that does not is widened into (scalars,
    strings) or walked (objects and arrays, whose elements fit again).
    """

    def __init__(self, data: Payload, window: int) -> None:
        self.data = memoryview(data)
        self.step = window
        self.read = 0  # bytes decoded so far
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.text = ""
        self.start = 0
        # A ``_Nested`` marker stands in for every nested object: the tree is
        # never built, its depth is measured as it is parsed, and a stand-in
        # is never taken for a valid serial or lineage.
        decoder = json.JSONDecoder(object_pairs_hook=_nested)
        # The C scanner the standard decoder runs (typeshed types it oddly).
        self.scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
            decoder  # type: ignore[arg-type]
        )

    @property
    def exhausted(self) -> bool:
        return self.read >= len(self.data)

    def _more(self) -> bool:
        """Decode the next slice of bytes onto the window; False at the end."""
        if self.exhausted:
            return False
        end = min(self.read + self.step, len(self.data))
        try:
            chunk = self.decoder.decode(self.data[self.read : end], final=end >= len(self.data))
        except UnicodeDecodeError as exc:
            raise InvalidState(
                f"state is not UTF-8 text: {exc.reason} at byte {self.read + exc.start}"
            ) from None
        self.read = end
        self.text += chunk
        return True

    def _need(self, pos: int, count: int = 1) -> bool:
        """Make the window hold ``count`` characters from ``pos`` (fewer at
        the end of the text), dropping what lies before ``pos``."""
        if pos - self.start > len(self.text) // 2:
            self.text = self.text[pos - self.start :]
            self.start = pos
        while pos + count > self.start + len(self.text):
            if not self._more():
                return False
        return True

    def _char(self, pos: int) -> str:
        return self.text[pos - self.start] if self._need(pos) else ""

    def _skip_ws(self, pos: int) -> int:
        while self._need(pos):
            end = self.start + _SPACE.match(self.text, pos - self.start).end()  # type: ignore[union-attr]
            if end < self.start + len(self.text) or self.exhausted:
                return end
            pos = end
        return pos

    def _fail(self, what: str, pos: int) -> InvalidState:
        return InvalidState(f"state is not valid JSON: {what} at character {pos}")

    def outer_fields(self) -> dict[str, Any]:
        """The fields of the top-level object (nested objects as markers)."""
        pos = self._skip_ws(0)
        if self._char(pos) == "{":
            fields, end = self._object(pos, outer=True, level=1)
        else:
            doc, end = self._value(pos, 0)
            fields = None
        end = self._skip_ws(end)
        if self._char(end):
            raise self._fail("Extra data", end)
        if fields is None:
            raise _not_an_object(doc)
        return dict(fields)

    def _value(self, pos: int, level: int) -> tuple[Any, int]:
        """One value at ``pos``, inside containers nested ``level`` deep:
        scanned whole when it fits, else widened into or walked."""
        while True:
            self._need(pos, 1)
            at = pos - self.start
            try:
                value, end = self.scan(self.text, at)
            except StopIteration:
                if self.exhausted or not self.text[at:]:
                    raise self._fail("Expecting value", pos) from None
            except json.JSONDecodeError as exc:
                if self.exhausted:
                    raise self._fail(exc.msg, self.start + exc.pos) from None
            except RecursionError:
                # The C scanner gives up before any depth check could run.
                raise too_deep() from None
            except ValueError as exc:
                raise _too_long(exc) from None
            else:
                # A number may go on past the window ("1098" of "1098.0"):
                # a value is certain when something else follows it in the
                # window, or at the end of the text.
                if self.exhausted or not _NUMBER_TAIL.match(self.text, end):
                    if level + _depth(value) > MAX_NESTING:
                        raise too_deep()
                    return value, self.start + end
            c = self.text[at] if at < len(self.text) else ""
            if c == "{":
                return _Nested(0), self._object(pos, outer=False, level=level + 1)[1]
            if c == "[":
                # Walked, not built: a stand-in of the same type for the rules.
                return [], self._array(pos, level + 1)
            if not self._need(pos, len(self.text) + self.start - pos + self.step):
                continue  # everything is in the window now: the scan decides

    def _object(self, pos: int, *, outer: bool, level: int) -> tuple[list[tuple[str, Any]], int]:
        if level > MAX_NESTING:
            raise too_deep()
        fields: list[tuple[str, Any]] = []
        pos = self._skip_ws(pos + 1)
        if self._char(pos) == "}":
            return fields, pos + 1
        while True:
            if self._char(pos) != '"':
                raise self._fail("Expecting property name enclosed in double quotes", pos)
            key, pos = self._string(pos)
            pos = self._skip_ws(pos)
            if self._char(pos) != ":":
                raise self._fail("Expecting ':' delimiter", pos)
            value, pos = self._value(self._skip_ws(pos + 1), level)
            if outer:
                fields.append((key, value))
            pos = self._skip_ws(pos)
            c = self._char(pos)
            if c == "}":
                return fields, pos + 1
            if c != ",":
                raise self._fail("Expecting ',' delimiter", pos)
            pos = self._skip_ws(pos + 1)

    def _array(self, pos: int, level: int) -> int:
        if level > MAX_NESTING:
            raise too_deep()
        pos = self._skip_ws(pos + 1)
        if self._char(pos) == "]":
            return pos + 1
        while True:
            _, pos = self._value(pos, level)
            pos = self._skip_ws(pos)
            c = self._char(pos)
            if c == "]":
                return pos + 1
            if c != ",":
                raise self._fail("Expecting ',' delimiter", pos)
            pos = self._skip_ws(pos + 1)

    def _string(self, pos: int) -> tuple[str, int]:
        while True:
            self._need(pos, 1)
            try:
                key, end = _scanstring(self.text, pos - self.start + 1, True)
            except json.JSONDecodeError as exc:
                if self.exhausted:
                    raise self._fail(exc.msg, self.start + exc.pos) from None
                self._need(pos, len(self.text) + self.start - pos + self.step)
                continue
            return key, self.start + end
