"""Writing changed edges back into the graph unit's state, and nothing else.

The state is edited as text: the values of the changed edges' computed
attributes are replaced (an absent one is added after the instance's last
attribute) and the top-level ``serial`` is raised by one. Every other byte
stays as it was: other resources, outputs, ``check_results``, unknown fields,
instance fields (``schema_version``, ``index_key``, ``private``,
``dependencies``, ``sensitive_attributes``), key order, formatting and the
spelling of numbers, which Terraform reads with arbitrary precision. (The
reference re-serialised a reduced struct and dropped most of those.)

Duplicate keys are read as every JSON reader here reads them, the last one
winning; an edited attribute is replaced in all its occurrences so no reader
can see the old value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import NamedTuple

from taco_core.canonical_json import go_quote
from taco_core.graph import COMPUTED_ATTRIBUTES, Edge, Graph, InstanceAddress, read_graph
from taco_core.graph_rules import GraphWrite, UnitWrite, apply_updates
from taco_core.model import Payload

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_TIMESTAMPS = frozenset({"last_in_at", "last_out_at"})


class _Member(NamedTuple):
    key: str
    key_start: int
    key_end: int
    value_start: int
    value_end: int


class _Object(NamedTuple):
    members: list[_Member]
    open_end: int  # just after "{"


def _ws(text: str, index: int) -> int:
    match = _WHITESPACE.match(text, index)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _skip(text: str, index: int) -> int:
    return int(_DECODER.raw_decode(text, index)[1])


def _walk_object(
    text: str, index: int, descend: Callable[[str, int], int | None] | None = None
) -> tuple[_Object, int]:
    """The members of the object at ``text[index]`` and the index after it.

    ``descend(key, value_start)`` may walk a member's value itself and return
    its end; when it returns ``None`` the value is skipped by the C parser.
    """
    members: list[_Member] = []
    open_end = index + 1
    index = _ws(text, open_end)
    if text[index] == "}":
        return _Object(members, open_end), index + 1
    while True:
        key, key_end = _DECODER.raw_decode(text, index)
        value_start = _ws(text, _ws(text, key_end) + 1)
        end = descend(key, value_start) if descend is not None else None
        if end is None:
            end = _skip(text, value_start)
        members.append(_Member(key, index, key_end, value_start, end))
        index = _ws(text, end)
        if text[index] == "}":
            return _Object(members, open_end), index + 1
        index = _ws(text, index + 1)


def _walk_array(text: str, index: int, descend: Callable[[int, int], int | None]) -> int:
    """Walk the array at ``text[index]``; ``descend(position, value_start)`` as above."""
    index = _ws(text, index + 1)
    if text[index] == "]":
        return index + 1
    position = 0
    while True:
        end = descend(position, index)
        if end is None:
            end = _skip(text, index)
        index = _ws(text, end)
        if text[index] == "]":
            return index + 1
        index = _ws(text, index + 1)
        position += 1


def _last(obj: _Object, key: str) -> _Member | None:
    found = [m for m in obj.members if m.key == key]
    return found[-1] if found else None


class _Locator:
    """Finds the attributes objects of the wanted instances (the occurrences a
    JSON reader sees when keys repeat: the last ones)."""

    def __init__(self, text: str, wanted: Collection[InstanceAddress]) -> None:
        self.text = text
        self.wanted: dict[int, set[int]] = {}
        for address in wanted:
            self.wanted.setdefault(address.resource, set()).add(address.instance)
        self.attributes: dict[InstanceAddress, _Object] = {}
        self.top: _Object | None = None

    def run(self) -> None:
        self.top, _ = _walk_object(self.text, _ws(self.text, 0), self._top_member)

    def _top_member(self, key: str, start: int) -> int | None:
        if key != "resources":
            return None
        self.attributes = {}  # a later "resources" replaces an earlier one
        if self.text[start] != "[":
            return None
        return _walk_array(self.text, start, self._resource)

    def _resource(self, r: int, start: int) -> int | None:
        if r not in self.wanted or self.text[start] != "{":
            return None
        found: dict[InstanceAddress, _Object] = {}

        def member(key: str, value_start: int) -> int | None:
            if key != "instances":
                return None
            found.clear()
            if self.text[value_start] != "[":
                return None
            return _walk_array(self.text, value_start, instance)

        def instance(i: int, value_start: int) -> int | None:
            if i not in self.wanted[r] or self.text[value_start] != "{":
                return None
            obj, end = _walk_object(self.text, value_start)
            attributes = _last(obj, "attributes")
            if attributes is not None and self.text[attributes.value_start] == "{":
                found[InstanceAddress(r, i)] = _walk_object(self.text, attributes.value_start)[0]
            return end

        _, end = _walk_object(self.text, start, member)
        self.attributes.update(found)
        return end


def _render(name: str, value: str) -> str:
    # The provider writes never-set timestamps as null and digests as "".
    if name in _TIMESTAMPS and not value:
        return "null"
    return go_quote(value)


def _leading_space(text: str, index: int) -> str:
    start = index
    while start > 0 and text[start - 1] in " \t\n\r":
        start -= 1
    return text[start:index]


def _set_members(text: str, obj: _Object, values: Mapping[str, str]) -> list[tuple[int, int, str]]:
    """Edits setting ``values`` (already JSON) in ``obj``: every occurrence of a
    present key replaced, absent keys added after the last member."""
    edits: list[tuple[int, int, str]] = []
    added: list[tuple[str, str]] = []
    for name, rendered in values.items():
        spans = [m for m in obj.members if m.key == name]
        edits.extend((m.value_start, m.value_end, rendered) for m in spans)
        if not spans:
            added.append((name, rendered))
    if added:
        if obj.members:
            last = obj.members[-1]
            indent = _leading_space(text, last.key_start)
            colon = text[last.key_end : last.value_start]
            insert = "".join(f",{indent}{go_quote(k)}{colon}{v}" for k, v in added)
            edits.append((last.value_end, last.value_end, insert))
        else:
            insert = ", ".join(f"{go_quote(k)}: {v}" for k, v in added)
            edits.append((obj.open_end, obj.open_end, insert))
    return edits


def _serial_edits(text: str, top: _Object, serial: int) -> list[tuple[int, int, str]]:
    spans = [m for m in top.members if m.key == "serial"]
    if spans:
        return [(m.value_start, m.value_end, str(serial)) for m in spans]
    first = top.members[0]
    indent = _leading_space(text, first.key_start)
    colon = text[first.key_end : first.value_start]
    return [(first.key_start, first.key_start, f'"serial"{colon}{serial},{indent}')]


def rewrite_graph_state(data: Payload, graph: Graph, changes: Mapping[int, Edge]) -> bytes | None:
    """``data`` with the computed attributes of ``changes`` (index into
    ``graph.edges`` -> new edge) written and the serial raised by one.

    ``graph`` must have been read from ``data``. Returns ``None`` when no
    computed attribute differs, so no needless version is written.
    """
    wanted: dict[InstanceAddress, dict[str, str]] = {}
    for index, new in changes.items():
        old = graph.edges[index]
        values = {
            name: _render(name, getattr(new, name))
            for name in COMPUTED_ATTRIBUTES
            if getattr(new, name) != getattr(old, name)
        }
        if values:
            wanted.setdefault(graph.addresses[index], {}).update(values)
    if not wanted:
        return None
    text = bytes(data).decode("utf-8")
    locator = _Locator(text, wanted)
    locator.run()
    assert locator.top is not None
    edits = _serial_edits(text, locator.top, graph.serial + 1)
    for address, values in wanted.items():
        attributes = locator.attributes.get(address)
        if attributes is None:
            raise ValueError(f"no edge at {address} in these bytes: graph was read from others")
        edits.extend(_set_members(text, attributes, values))
    edits.sort(key=lambda edit: (edit[0], edit[1]))
    pieces: list[str] = []
    position = 0
    for start, end, replacement in edits:
        pieces.append(text[position:start])
        pieces.append(replacement)
        position = end
    pieces.append(text[position:])
    return "".join(pieces).encode("utf-8")


def update_graph_state(
    data: Payload,
    writes: Sequence[UnitWrite] = (),
    graph_write: GraphWrite | None = None,
) -> bytes | None:
    """The graph unit's new state bytes after ``apply_updates``, or ``None`` if
    there is no graph or nothing changes (then nothing needs committing)."""
    graph = read_graph(data)
    if graph is None:
        return None
    return rewrite_graph_state(data, graph, apply_updates(graph.edges, writes, graph_write))
