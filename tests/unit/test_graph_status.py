"""Unit colours and the status payload (reference §5 "Status", §13 item 10)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from taco_core.graph import Edge
from taco_core.graph_status import (
    Colour,
    ColourChange,
    GraphIndex,
    GraphNode,
    Summary,
    UnitStatus,
    colour_changes,
)

GREEN, RED, YELLOW = Colour.GREEN, Colour.RED, Colour.YELLOW


def edge(source: str, target: str, status: str = "ok", output: str = "out") -> Edge:
    return Edge(
        id=f"{source}.{output}->{target}",
        from_unit_id=source,
        from_output=output,
        to_unit_id=target,
        to_input=output,
        status=status,
    )


def colours(index: GraphIndex, units: str) -> str:
    return "".join(index.colour(u).value[0] for u in units)


def test_red_is_an_incoming_pending_edge() -> None:
    """A unit with any pending incoming edge is red, whatever its other edges."""
    index = GraphIndex([edge("a", "b", "pending"), edge("c", "b", "ok")])
    assert index.colour("b") is RED


def test_yellow_is_downstream_of_red_through_any_edge() -> None:
    """Units reachable from a red unit are yellow, following ok, unknown and
    pending edges alike, any number of steps."""
    index = GraphIndex(
        [
            edge("a", "b", "pending"),
            edge("b", "c", "ok"),
            edge("c", "d", "unknown"),
            edge("d", "e", "whatever"),
            edge("x", "a", "ok"),
        ]
    )
    assert colours(index, "xabcde") == "ggryyy"


def test_red_wins_over_yellow() -> None:
    """A red unit downstream of another red unit stays red."""
    index = GraphIndex([edge("a", "b", "pending"), edge("b", "c", "pending"), edge("c", "d")])
    assert colours(index, "abcd") == "grry"


def test_unknown_edges_never_make_a_unit_red() -> None:
    """Only pending makes red: unknown and other statuses do not."""
    index = GraphIndex([edge("a", "b", "unknown"), edge("a", "c", ""), edge("a", "d", "stale")])
    assert colours(index, "abcd") == "gggg"


def test_cycles_terminate() -> None:
    """A cycle through a red unit colours the rest of the cycle yellow."""
    index = GraphIndex([edge("a", "b", "pending"), edge("b", "c"), edge("c", "a")])
    assert colours(index, "abc") == "yry"


def test_status_payload() -> None:
    """The payload lists incoming edges pending first, then unknown (and any
    other status), then ok, ties by source unit then output; the summary counts them."""
    incoming = [
        edge("z", "t", "ok"),
        edge("b", "t", "unknown"),
        edge("y", "t", "pending"),
        edge("a", "t", "odd"),
        edge("c", "t", "ok"),
        edge("x", "t", "pending", output="p2"),
        edge("x", "t", "pending", output="p1"),
    ]
    index = GraphIndex([*incoming, edge("t", "u", "pending")])
    status = index.status("t")
    assert status == UnitStatus(
        unit_id="t",
        status=RED,
        incoming=tuple(incoming[i] for i in (6, 5, 2, 3, 1, 4, 0)),
        summary=Summary(incoming_ok=2, incoming_pending=3, incoming_unknown=2),
        offender="x",
    )


def test_unit_outside_the_graph_is_green_with_no_incoming_edges() -> None:
    """A unit no edge names is green with an empty incoming list."""
    index = GraphIndex([edge("a", "b", "pending")])
    assert index.status("elsewhere") == UnitStatus("elsewhere", GREEN, (), Summary())


def test_missing_graph_is_green_with_null_incoming() -> None:
    """Without a graph (missing or corrupt state) every unit is green with incoming null."""
    index = GraphIndex.from_graph(None)
    assert not index.exists
    assert index.status("a") == UnitStatus("a", GREEN, None, Summary())
    assert index.units == ()


def test_lookups_normalise_the_unit_id() -> None:
    """A unit asked for as an S3-style key or with slashes finds its edges;
    the payload keeps the ID as asked."""
    index = GraphIndex([edge("a", "b", "pending")])
    status = index.status("/b/terraform.tfstate")
    assert status.unit_id == "/b/terraform.tfstate"
    assert status.status is RED


def test_statuses_by_prefix() -> None:
    """Statuses for a plain string prefix list the graph's matching units by ID."""
    index = GraphIndex([edge("app/b", "app/a", "pending"), edge("net/x", "app/b")])
    assert [(s.unit_id, s.status) for s in index.statuses("app/")] == [
        ("app/a", RED),
        ("app/b", GREEN),
    ]
    assert [s.unit_id for s in index.statuses()] == ["app/a", "app/b", "net/x"]


def test_whole_graph_view() -> None:
    """The view lists every unit with its colour and summary, and every edge;
    a visibility filter hides units and the edges that touch them."""
    edges = [edge("a", "b", "pending"), edge("b", "c"), edge("c", "d")]
    index = GraphIndex(edges)
    view = index.view()
    assert view.nodes == (
        GraphNode("a", GREEN, Summary()),
        GraphNode("b", RED, Summary(incoming_pending=1)),
        GraphNode("c", YELLOW, Summary(incoming_ok=1)),
        GraphNode("d", YELLOW, Summary(incoming_ok=1)),
    )
    assert view.edges == tuple(edges)
    hidden = index.view(lambda unit: unit != "c")
    assert [n.unit_id for n in hidden.nodes] == ["a", "b", "d"]
    assert hidden.edges == (edges[0],)


def test_cause_and_offender() -> None:
    """A red unit's cause is its first pending edge; a yellow one's is the edge
    that reached it; the offender is the red unit's source or the red unit upstream."""
    edges = [edge("b", "r", "pending"), edge("a", "r", "pending"), edge("r", "y"), edge("y", "z")]
    index = GraphIndex(edges)
    assert index.cause("r") == edges[1]
    assert index.offender("r") == "a"
    assert index.cause("z") == edges[3]
    assert index.offender("z") == "r"
    assert index.cause("a") is None
    assert index.offender("a") is None


def test_colour_changes_between_versions() -> None:
    """Colour changes list every unit whose colour moved, with the edge that
    explains the new colour (or the old one, when it turned green)."""
    before = GraphIndex([edge("a", "b", "ok"), edge("b", "c")])
    pending = edge("a", "b", "pending")
    after = GraphIndex([pending, edge("b", "c")])
    assert colour_changes(before, after) == [
        ColourChange("b", GREEN, RED, pending),
        ColourChange("c", GREEN, YELLOW, edge("b", "c")),
    ]
    assert colour_changes(after, before)[0] == ColourChange("b", RED, GREEN, pending)


UNITS = "abcdef"
graphs = st.lists(
    st.builds(
        edge,
        st.sampled_from(UNITS),
        st.sampled_from(UNITS),
        st.sampled_from(["ok", "pending", "unknown", ""]),
    ),
    max_size=14,
)


def naive_colours(edges: list[Edge]) -> dict[str, Colour]:
    """Colours straight from the definitions, by repeating until nothing changes."""
    red = {e.to_unit_id for e in edges if e.status == "pending"}
    downstream = set(red)
    reached: set[str] = set()
    while True:
        step = {e.to_unit_id for e in edges if e.from_unit_id in downstream}
        if step <= reached:
            break
        reached |= step
        downstream |= step
    return {u: RED if u in red else YELLOW if u in reached else GREEN for u in UNITS}


@given(edges=graphs)
def test_index_colours_match_the_definitions(edges: list[Edge]) -> None:
    """The index's colours equal colours computed naively from the definitions."""
    index = GraphIndex(edges)
    assert {u: index.colour(u) for u in UNITS} == naive_colours(edges)
    for status in index.statuses():
        assert status.summary.incoming_pending == sum(
            1 for e in edges if e.to_unit_id == status.unit_id and e.status == "pending"
        )
