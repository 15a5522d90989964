"""Rewriting the graph unit's state: only edge attributes change, serial + 1, all else kept."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from taco_core.graph import COMPUTED_ATTRIBUTES, Edge, read_graph
from taco_core.graph_rewrite import rewrite_graph_state, update_graph_state
from taco_core.graph_rules import GraphWrite, UnitWrite, read_outputs
from tests.unit.graph_states import (
    dependency_attributes,
    dependency_resource,
    edge_resource,
    encode,
    graph_state,
    instance,
    unit_state,
)

NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
STAMP = "2025-03-04T05:06:07Z"


# -- a JSON tree that keeps member order, duplicate keys and number spellings --


class Obj(list[tuple[str, Any]]):
    """A JSON object as its members in document order."""


@attrs.frozen
class Num:
    """A JSON number as written."""

    text: str


def parse_exact(data: bytes) -> Any:
    return json.loads(data, object_pairs_hook=Obj, parse_int=Num, parse_float=Num)


def render(value: Any, indent: str | None, colon: str, depth: int = 0) -> str:
    if isinstance(value, Num):
        return value.text
    if value is None or isinstance(value, bool | str):
        return json.dumps(value)
    inner = "" if indent is None else "\n" + indent * (depth + 1)
    outer = "" if indent is None else "\n" + indent * depth
    if isinstance(value, Obj):
        if not value:
            return "{}"
        members = [f"{json.dumps(k)}{colon}{render(v, indent, colon, depth + 1)}" for k, v in value]
        return "{" + inner + ("," + inner).join(members) + outer + "}"
    if not value:
        return "[]"
    items = [render(v, indent, colon, depth + 1) for v in value]
    return "[" + inner + ("," + inner).join(items) + outer + "]"


def last(obj: Obj, key: str) -> Any:
    return next(v for k, v in reversed(obj) if k == key)


def set_member(obj: Obj, key: str, value: Any, *, first: bool = False) -> None:
    """Replace every occurrence of ``key``, or add it (at the end, or first)."""
    hits = [i for i, (k, _) in enumerate(obj) if k == key]
    for i in hits:
        obj[i] = (key, value)
    if not hits:
        obj.insert(0 if first else len(obj), (key, value))


# -- strategies ---------------------------------------------------------------

UNITS = ["a", "b", "c", "/c/terraform.tfstate", "d/"]
NUMBERS = ["0", "-0", "1", "1.0", "1e5", "1E+5", "0.10", "12345678901234567890123", "1.5e-300"]
numbers = st.sampled_from(NUMBERS).map(Num)
scalars = st.none() | st.booleans() | numbers | st.text(max_size=4)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.lists(st.tuples(st.text(max_size=3), children), max_size=3).map(Obj)
    ),
    max_leaves=6,
)
extras = st.lists(st.tuples(st.text(min_size=1, max_size=3).map("x_".__add__), values), max_size=2)
computed_values = st.sampled_from(["", "ok", "pending", "unknown", "dG1", STAMP])


@st.composite
def shuffled(draw: st.DrawFn, members: list[tuple[str, Any]]) -> Obj:
    return Obj(draw(st.permutations([*members, *draw(extras)])))


@st.composite
def attributes(draw: st.DrawFn) -> Obj:
    source, target = draw(st.sampled_from(UNITS)), draw(st.sampled_from(UNITS))
    members: list[tuple[str, Any]] = [
        ("id", draw(st.text(max_size=3))),
        ("from_unit_id", source),
        ("from_output", "out"),
        ("to_unit_id", target),
        ("to_input", draw(st.none() | st.just("in"))),
    ]
    for name in COMPUTED_ATTRIBUTES:
        presence = draw(st.sampled_from(["once", "once", "once", "absent", "twice"]))
        value = draw(computed_values | st.none())
        if presence != "absent":
            members.append((name, value))
        if presence == "twice":
            members.append((name, draw(computed_values)))
    return draw(shuffled(members))


@st.composite
def instances(draw: st.DrawFn) -> Obj:
    members = [
        ("schema_version", Num("0")),
        ("attributes", draw(attributes())),
        ("sensitive_attributes", []),
        ("private", "bnVsbA=="),
    ]
    if draw(st.booleans()):
        members.append(("index_key", draw(numbers | st.text(max_size=2))))
    return draw(shuffled(members))


@st.composite
def resources(draw: st.DrawFn) -> Obj:
    kind = draw(st.sampled_from(["opentaco_dependency", "opentaco_dependency", "null_resource"]))
    listed = draw(st.lists(instances(), max_size=3))
    members = [
        ("mode", "managed"),
        ("type", kind),
        ("name", "r"),
        ("provider", 'provider["registry.terraform.io/diggerhq/opentaco"]'),
        ("instances", listed),
    ]
    if draw(st.booleans()):
        members.append(("module", "module.m"))
    return draw(shuffled(members))


@st.composite
def states(draw: st.DrawFn) -> Obj:
    members: list[tuple[str, Any]] = [
        ("version", Num("4")),
        ("terraform_version", "1.15.5"),
        ("lineage", "L"),
        ("outputs", Obj([("o", Obj([("value", draw(values)), ("type", "string")]))])),
        ("resources", draw(st.lists(resources(), max_size=4))),
        ("check_results", draw(values)),
    ]
    if draw(st.integers(0, 4)):
        members.append(("serial", Num(str(draw(st.integers(0, 10**6))))))
    return draw(shuffled(members))


styles = st.sampled_from([(None, ":"), (None, ": "), ("  ", ": "), ("\t", ":"), (" ", " : ")])


def expected_after(doc: Obj, graph: Any, changes: dict[int, Edge]) -> Obj:
    """What the rewrite must produce, computed on the tree instead of the text."""
    after = copy.deepcopy(doc)
    serial = graph.serial + 1
    set_member(after, "serial", Num(str(serial)), first=True)
    for index, new in changes.items():
        address = graph.addresses[index]
        resource = last(after, "resources")[address.resource]
        target = last(last(resource, "instances")[address.instance], "attributes")
        for name in COMPUTED_ATTRIBUTES:
            value = getattr(new, name)
            if value != getattr(graph.edges[index], name):
                timestamp_unset = name.startswith("last_") and not value
                set_member(target, name, None if timestamp_unset else value)
    return after


@given(doc=states(), style=styles, data=st.data())
def test_rewrite_changes_only_edge_attributes_and_serial(
    doc: Obj, style: tuple[str | None, str], data: st.DataObject
) -> None:
    """Whatever else the state holds (unknown fields at every level, other
    resources, any key order, duplicate keys, number spellings, formatting), the
    rewrite changes exactly the changed edge attributes and raises the serial by one."""
    before = render(doc, *style).encode()
    assert parse_exact(before) == doc
    graph = read_graph(before)
    assert graph is not None
    changes: dict[int, Edge] = {}
    for index, edge in enumerate(graph.edges):
        names = data.draw(st.sets(st.sampled_from(COMPUTED_ATTRIBUTES)))
        new = {name: data.draw(computed_values) for name in names}
        changes[index] = attrs.evolve(edge, **new)
    after = rewrite_graph_state(before, graph, changes)
    if all(changes[i] == graph.edges[i] for i in changes):
        assert after is None
        return
    assert after is not None
    assert parse_exact(after) == expected_after(doc, graph, changes)
    reread = read_graph(after)
    assert reread is not None
    assert reread.serial == graph.serial + 1
    assert list(reread.edges) == [changes.get(i, e) for i, e in enumerate(graph.edges)]
    assert reread == graph.with_changes(changes)


def test_rewrite_of_a_terraform_state_keeps_every_other_byte() -> None:
    """On a state as Terraform writes it, only the edited values differ."""
    doc = graph_state(
        edge_resource("ab", "a", "vpc", "b"),
        {"mode": "managed", "type": "null_resource", "name": "n", "provider": "p",
         "instances": [instance({"id": "1", "triggers": {"n": 1.5}})]},
        serial=41,
        outputs={"x": {"value": 1e22, "type": "number"}},
        check_results=[{"object_kind": "resource", "status": "pass"}],
    )  # fmt: skip
    before = encode(doc)
    graph = read_graph(before)
    assert graph is not None
    edge = graph.edges[0]
    new = attrs.evolve(edge, in_digest="dG1", status="pending", last_in_at=STAMP)
    after = rewrite_graph_state(before, graph, {0: new})
    assert after is not None
    expected = before.replace(b'"serial": 41', b'"serial": 42')
    expected = expected.replace(b'"in_digest": ""', b'"in_digest": "dG1"')
    expected = expected.replace(b'"status": "unknown"', b'"status": "pending"')
    expected = expected.replace(b'"last_in_at": null', f'"last_in_at": "{STAMP}"'.encode())
    assert after == expected


def test_absent_attributes_and_serial_are_added_in_the_state_style() -> None:
    """An attribute missing from an instance, and a missing serial, are added,
    formatted like their neighbours."""
    attributes = {"from_unit_id": "a", "from_output": "o", "to_unit_id": "b"}
    doc = {"version": 4, "resources": [dependency_resource("r", {"attributes": attributes})]}
    before = encode(doc)
    graph = read_graph(before)
    assert graph is not None
    after = rewrite_graph_state(before, graph, {0: attrs.evolve(graph.edges[0], status="ok")})
    assert after is not None
    assert after.startswith(b'{\n  "serial": 1,\n  "version": 4,')
    assert b'"to_unit_id": "b",\n            "status": "ok"\n' in after
    assert json.loads(after)["resources"][0]["instances"][0]["attributes"]["status"] == "ok"


def test_attributes_added_in_a_compact_state() -> None:
    """In a state without whitespace, added attributes follow the last member
    without whitespace either (a duplicated key counts as present)."""
    before = (
        b'{"serial":1,"resources":[{"type":"opentaco_dependency","instances":[{"attributes":'
        b'{"from_unit_id":"a","to_unit_id":"b","from_unit_id":"a"}}]}]}'
    )
    graph = read_graph(before)
    assert graph is not None
    new = attrs.evolve(graph.edges[0], status="ok", in_digest="d")
    after = rewrite_graph_state(before, graph, {0: new})
    assert after == (
        b'{"serial":2,"resources":[{"type":"opentaco_dependency","instances":[{"attributes":'
        b'{"from_unit_id":"a","to_unit_id":"b","from_unit_id":"a","in_digest":"d",'
        b'"status":"ok"}}]}]}'
    )


def test_duplicate_keys_are_all_rewritten() -> None:
    """A repeated attribute key has every occurrence replaced, so no JSON reader
    sees the old value."""
    before = (
        b'{"serial":1,"resources":[{"type":"opentaco_dependency","instances":[{"attributes":'
        b'{"from_unit_id":"a","to_unit_id":"b","status":"ok","status":"pending"}}]}]}'
    )
    graph = read_graph(before)
    assert graph is not None
    assert graph.edges[0].status == "pending"
    after = rewrite_graph_state(before, graph, {0: attrs.evolve(graph.edges[0], status="ok")})
    assert after is not None
    assert after.count(b'"status":"ok"') == 2


def test_nothing_changed_means_no_new_bytes() -> None:
    """No change, or changes equal to the current edges, give None: no needless version."""
    before = encode(graph_state(edge_resource("ab", "a", "o", "b")))
    graph = read_graph(before)
    assert graph is not None
    assert rewrite_graph_state(before, graph, {}) is None
    assert rewrite_graph_state(before, graph, {0: graph.edges[0]}) is None


def test_a_graph_read_from_other_bytes_is_refused() -> None:
    """Changes located in one state cannot be applied to other bytes."""
    graph = read_graph(encode(graph_state(edge_resource("ab", "a", "o", "b"))))
    assert graph is not None
    other = encode(graph_state())
    with pytest.raises(ValueError, match="graph was read from others"):
        rewrite_graph_state(other, graph, {0: attrs.evolve(graph.edges[0], status="ok")})


def test_update_graph_state() -> None:
    """The byte-level helper applies writes and seeding, and gives None when
    there is no graph or nothing to change."""
    before = encode(graph_state(edge_resource("ab", "a", "o", "b"), serial=7))
    write = UnitWrite("a", read_outputs(unit_state(o="v")), NOW)
    after = update_graph_state(before, [write])
    assert after is not None
    assert json.loads(after)["serial"] == 8
    assert update_graph_state(after, [write]) is None
    assert update_graph_state(b"", [write]) is None
    seeding = GraphWrite({"a": read_outputs(unit_state(o="v"))}, known_ids=(), at=NOW)
    seeded = update_graph_state(before, graph_write=seeding)
    assert seeded is not None
    attributes = json.loads(seeded)["resources"][0]["instances"][0]["attributes"]
    assert attributes["status"] == "pending"
    assert attributes["last_out_at"] is None
    assert update_graph_state(b"garbage", graph_write=seeding) is None


def test_the_attributes_of_a_fresh_edge_round_trip() -> None:
    """A rewritten instance still holds every attribute the provider's schema has."""
    doc = graph_state(dependency_resource("r", instance(dependency_attributes("a", "o", "b"))))
    before = encode(doc)
    after = update_graph_state(before, [UnitWrite("a", read_outputs(unit_state(o=1)), NOW)])
    assert after is not None
    got = json.loads(after)["resources"][0]["instances"][0]["attributes"]
    assert set(got) == set(doc["resources"][0]["instances"][0]["attributes"])
