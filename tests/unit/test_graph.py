"""Reading the dependency graph out of the system unit's state."""

from __future__ import annotations

import json

import pytest

from taco_core.graph import (
    Edge,
    InstanceAddress,
    normalize_edge_unit_id,
    read_graph,
)
from tests.unit.graph_states import (
    dependency_attributes,
    dependency_resource,
    edge_resource,
    encode,
    graph_state,
    instance,
)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("app/prod", "app/prod"),
        ("  /app/prod/ ", "app/prod"),
        ("///app/prod///", "app/prod"),
        ("app/prod/terraform.tfstate", "app/prod"),
        ("/app/prod/terraform.tfstate/", "app/prod"),
        ("a/terraform.tfstate/terraform.tfstate", "a/terraform.tfstate"),
        ("terraform.tfstate", "terraform.tfstate"),
        ("\u3000\xa0app\t\n", "app"),
        ("\x1fapp", "\x1fapp"),
        ("/ app", " app"),
        ("a//b", "a//b"),
    ],
)
def test_edge_unit_ids_normalise_as_the_reference(raw: str, normalised: str) -> None:
    """Edge unit IDs: Go's spaces then slashes trimmed at both ends, then one
    trailing /terraform.tfstate dropped; nothing else changes."""
    assert normalize_edge_unit_id(raw) == normalised


def test_every_dependency_instance_is_an_edge() -> None:
    """Instances in modules, under count and for_each are all edges, located by
    resource and instance index; other resources are ignored."""
    doc = graph_state(
        {"mode": "managed", "type": "null_resource", "name": "x", "instances": [instance({})]},
        edge_resource("ab", "a", "vpc", "b"),
        dependency_resource(
            "fan",
            instance(dependency_attributes("b", "id", "c"), index_key=0),
            instance(dependency_attributes("b", "id", "d"), index_key=1),
            module="module.deps",
        ),
        dependency_resource(
            "each",
            instance(dependency_attributes("/c/terraform.tfstate", "x", "d/"), index_key="k"),
        ),
    )
    graph = read_graph(encode(doc))
    assert graph is not None
    assert [(e.from_unit_id, e.from_output, e.to_unit_id) for e in graph.edges] == [
        ("a", "vpc", "b"),
        ("b", "id", "c"),
        ("b", "id", "d"),
        ("c", "x", "d"),
    ]
    assert graph.addresses == (
        InstanceAddress(1, 0),
        InstanceAddress(2, 0),
        InstanceAddress(2, 1),
        InstanceAddress(3, 0),
    )
    assert graph.serial == 1


def test_edge_attributes_are_read_as_text() -> None:
    """Null timestamps read as '', non-string values as their JSON, as the
    reference's getString does."""
    attributes = dependency_attributes("a", "o", "b", status=5, in_digest=None, to_input=True)
    graph = read_graph(encode(graph_state(dependency_resource("r", instance(attributes)))))
    assert graph is not None
    assert graph.edges == (
        Edge(
            id=attributes["id"],
            from_unit_id="a",
            from_output="o",
            to_unit_id="b",
            to_input="true",
            in_digest="",
            out_digest="",
            status="5",
            last_in_at="",
            last_out_at="",
        ),
    )


def test_malformed_instances_are_skipped() -> None:
    """Instances that are not objects, lack an attributes object, name no source
    or target, are deposed, or sit in a data source are skipped, never an error."""
    doc = graph_state(
        dependency_resource(
            "bad",
            "not an instance",
            {"attributes": ["a"]},
            {"attributes_flat": {"from_unit_id": "a"}},
            instance(dependency_attributes("", "o", "b")),
            instance(dependency_attributes("a", "o", " / ")),
            instance(dependency_attributes("a", "o", "old"), deposed="00000001"),
            instance(dependency_attributes("a", "o", "good")),
        ),
        {**edge_resource("data", "a", "o", "z"), "mode": "data"},
        {"type": "opentaco_dependency", "instances": "nope"},
        "not a resource",
    )
    graph = read_graph(encode(doc))
    assert graph is not None
    assert [e.to_unit_id for e in graph.edges] == ["good"]


@pytest.mark.parametrize(
    "data",
    [b"", b"  \n", b"not json", b"[1, 2]", b'"state"', b'{"serial": -1}', b'{"serial": 1.5}',
     b'{"serial": "2"}', b'{"serial": true}', b'{"resources": [NaN]}', b"\xff\xfe"],
)  # fmt: skip
def test_no_graph_in_bytes_that_are_not_a_state(data: bytes) -> None:
    """Empty bytes, non-JSON, non-objects and impossible serials are no graph."""
    assert read_graph(data) is None


def test_a_state_without_edges_is_an_empty_graph() -> None:
    """A valid state without dependency resources is a graph with no edges;
    a missing serial reads as 0."""
    graph = read_graph(json.dumps({"version": 4, "resources": None}).encode())
    assert graph is not None
    assert graph.edges == ()
    assert graph.serial == 0


def test_lone_surrogates_read_as_replacement_characters() -> None:
    """An escaped lone surrogate in an attribute reads as U+FFFD, as Go reads it,
    so every edge field can be written out as UTF-8."""
    attributes = dependency_attributes("a", "o", "b", status="\ud800")
    graph = read_graph(encode(graph_state(dependency_resource("r", instance(attributes)))))
    assert graph is not None
    assert graph.edges[0].status == "\ufffd"
    assert graph.edges[0].status.encode() == b"\xef\xbf\xbd"
