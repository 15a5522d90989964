"""The dependency graph's picture: the pure layered layout, and the SVG the
UI draws of it, from graphs built here."""

from __future__ import annotations

import re
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from taco_core.graph import Edge
from taco_core.graph_status import Colour, GraphNode, GraphView, Summary
from taco_http.ui.graph_layout import layout_graph, within_prefix
from taco_http.ui.render import ENVIRONMENT
from taco_http.ui.unit_views import unit_url


def edge(a: str, b: str, output: str = "out", status: str = "ok") -> Edge:
    return Edge(f"{a}->{b}:{output}", a, output, b, "in", status=status)


def view(colours: dict[str, Colour], edges: list[Edge]) -> GraphView:
    nodes = tuple(GraphNode(u, c, Summary()) for u, c in sorted(colours.items()))
    return GraphView(nodes=nodes, edges=tuple(edges))


def overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_a_chain_goes_left_to_right() -> None:
    """network → db → app: one layer each, in order, arrows pointing right."""
    picture = layout_graph(
        view({"network": Colour.GREEN, "db": Colour.RED, "app": Colour.YELLOW},
             [edge("network", "db", "vpc_id"), edge("db", "app", "dsn")])
    )  # fmt: skip
    layers = {n.unit_id: n.layer for n in picture.nodes}
    assert layers == {"network": 0, "db": 1, "app": 2}
    assert {n.unit_id: n.colour for n in picture.nodes}["db"] == "red"
    assert all(e.end[0] > e.start[0] and not e.back for e in picture.edges)
    assert [e.label for e in picture.edges] == ["dsn", "vpc_id"]


def test_parallel_edges_make_one_arrow_with_every_output() -> None:
    """Several edges between the same units are one arrow labelled with their outputs."""
    picture = layout_graph(
        view({}, [edge("a", "b", "x"), edge("a", "b", "y"), edge("a", "b", "z")])
    )
    (arrow,) = picture.edges
    assert arrow.outputs == ("x", "y", "z")
    assert arrow.label == "x, y +1"


def test_cycles_and_self_loops_are_drawn() -> None:
    """A cycle has one edge marked back; a unit depending on itself gets a loop."""
    picture = layout_graph(view({}, [edge("a", "b"), edge("b", "a"), edge("c", "c")]))
    assert sum(e.back for e in picture.edges) == 1
    (loop,) = [e for e in picture.edges if e.loop]
    assert loop.from_unit == "c"
    assert all(n.y > 0 for n in picture.nodes)


def test_an_empty_graph_is_an_empty_picture() -> None:
    """No units: nothing placed."""
    picture = layout_graph(view({}, []))
    assert (picture.nodes, picture.edges) == ((), ())


names = st.sampled_from([f"u{i}" for i in range(12)])
graphs = st.lists(st.tuples(names, names, st.sampled_from(["a", "b"])), max_size=30)


@settings(max_examples=200, deadline=None)
@given(graphs, st.sets(names))
def test_layout_invariants(pairs: list[tuple[str, str, str]], lonely: set[str]) -> None:
    """Every unit placed once, inside the picture, no boxes overlapping; an
    arrow for each connected pair; only back edges point left; deterministic."""
    edges = [edge(a, b, o) for a, b, o in pairs]
    graph = view(dict.fromkeys(lonely, Colour.GREEN), edges)
    picture = layout_graph(graph)
    ids = [n.unit_id for n in picture.nodes]
    assert sorted(ids) == sorted(lonely | {a for a, _, _ in pairs} | {b for _, b, _ in pairs})
    assert len(ids) == len(set(ids))
    boxes = [(n.x, n.y, n.width, n.height) for n in picture.nodes]
    for n in picture.nodes:
        assert n.x >= 0 and n.x + n.width <= picture.width
        assert n.y >= 0 and n.y + n.height <= picture.height
    for i, a in enumerate(boxes):
        assert not any(overlap(a, b) for b in boxes[i + 1 :])
    assert {(e.from_unit, e.to_unit) for e in picture.edges} == {(a, b) for a, b, _ in pairs}
    layer = {n.unit_id: n.layer for n in picture.nodes}
    for e in picture.edges:
        if not e.loop and not e.back:
            assert layer[e.to_unit] > layer[e.from_unit]
    assert layout_graph(graph) == picture


def test_a_long_chain_does_not_exhaust_the_stack() -> None:
    """A chain of 5,000 units lays out (the cycle search is iterative)."""
    chain = [edge(f"u{i}", f"u{i + 1}") for i in range(5000)]
    picture = layout_graph(view({}, chain))
    assert max(n.layer for n in picture.nodes) == 5000
    assert all(a.x < b.x for a, b in pairwise(sorted(picture.nodes, key=lambda n: n.layer)))


def test_the_svg_links_colours_and_labels_every_unit() -> None:
    """The picture names each unit with its status in words, links it to its
    page, fills it by colour and labels the arrows; IDs are escaped."""
    picture = layout_graph(
        view({"net": Colour.GREEN, "db": Colour.RED, "app": Colour.YELLOW},
             [edge("net", "db", "vpc_id"), edge("db", "app", "dsn")])
    )  # fmt: skip
    svg = ENVIRONMENT.get_template("_graph_svg.html").render(picture=picture, unit_url=unit_url)
    assert svg.count('<a href="/ui/units/') == 3
    assert 'href="/ui/units/db"' in svg
    assert re.search(r'fill="#fee2e2"/>\s*<text[^>]*>db</text>', svg)
    assert "needs re-apply" in svg and "might need re-apply" in svg and "up to date" in svg
    assert ">vpc_id</text>" in svg and ">dsn</text>" in svg
    assert 'role="img"' in svg and "3 units, 2 dependencies" in svg
    hostile = layout_graph(view({"<b>&x": Colour.GREEN}, []))
    rendered = ENVIRONMENT.get_template("_graph_svg.html").render(
        picture=hostile, unit_url=unit_url
    )
    assert "<b>&x" not in rendered and "&lt;b&gt;&amp;x" in rendered


def test_a_prefix_keeps_its_units_and_their_neighbours() -> None:
    """Filtering by prefix keeps the matching units, their edges and the units
    at the other ends; nothing else."""
    graph = view(
        {"net": Colour.GREEN, "app/a": Colour.RED, "app/b": Colour.GREEN, "other": Colour.GREEN,
         "far": Colour.GREEN},
        [edge("net", "app/a"), edge("app/a", "app/b"), edge("other", "far")],
    )  # fmt: skip
    part = within_prefix(graph, "app/")
    assert sorted(n.unit_id for n in part.nodes) == ["app/a", "app/b", "net"]
    assert len(part.edges) == 2
    assert within_prefix(graph, "") is graph
