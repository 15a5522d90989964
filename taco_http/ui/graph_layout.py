"""Where each unit of the dependency graph goes in its picture: a layered
layout, left to right, computed from a ``GraphView`` with no I/O.

The classic steps of a layered (Sugiyama-style) drawing, kept small:

1. edges closing a cycle (found by a depth-first search in ID order) are
   turned around for the layering only, and drawn as they are, marked
   ``back``; a unit's edge to itself is drawn as a loop;
2. each unit goes in the layer after the furthest of its sources (longest
   path), so every other edge points rightwards;
3. units within a layer are ordered by the average position of their
   neighbours in the layer before, then after (barycentre sweeps), which
   untangles most crossings; ties go by ID, so one graph always gives one
   picture;
4. layers are centred on each other; edges between the same two units are
   drawn once, labelled with all their outputs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from attrs import frozen

from taco_core.graph_status import GraphView

NODE_WIDTH = 200.0
NODE_HEIGHT = 48.0
LAYER_GAP = 110.0
ROW_GAP = 28.0
MARGIN = 20.0
_SWEEPS = 4
# Output names shown on an edge before "+N".
_LABELLED_OUTPUTS = 2


@frozen
class PlacedNode:
    """A unit's box: top-left corner, size, layer, and its colour."""

    unit_id: str
    colour: str
    x: float
    y: float
    width: float
    height: float
    layer: int

    @property
    def centre_y(self) -> float:
        return self.y + self.height / 2


@frozen
class PlacedEdge:
    """Every edge from one unit to another, as one arrow: ``outputs`` are
    the sources' outputs it carries, ``start`` and ``end`` where it leaves
    and arrives, ``back`` when it points leftwards (it closes a cycle)."""

    from_unit: str
    to_unit: str
    outputs: tuple[str, ...]
    start: tuple[float, float]
    end: tuple[float, float]
    back: bool = False

    @property
    def label(self) -> str:
        shown = ", ".join(self.outputs[:_LABELLED_OUTPUTS])
        more = len(self.outputs) - _LABELLED_OUTPUTS
        return f"{shown} +{more}" if more > 0 else shown

    @property
    def loop(self) -> bool:
        return self.from_unit == self.to_unit

    @property
    def path(self) -> str:
        """SVG path data: a curve from ``start`` to ``end`` (a loop above the
        box for a unit's edge to itself)."""
        (x1, y1), (x2, y2) = self.start, self.end
        if self.loop:
            return (
                f"M {x1:g} {y1:g} C {x1 + 40:g} {y1 - 50:g}, {x2 - 40:g} {y2 - 50:g}, {x2:g} {y2:g}"
            )
        bend = max(40.0, abs(x2 - x1) / 2)
        return f"M {x1:g} {y1:g} C {x1 + bend:g} {y1:g}, {x2 - bend:g} {y2:g}, {x2:g} {y2:g}"

    @property
    def middle(self) -> tuple[float, float]:
        """Where the label goes."""
        (x1, y1), (x2, y2) = self.start, self.end
        if self.loop:
            return (x1 + x2) / 2, y1 - 42
        return (x1 + x2) / 2, (y1 + y2) / 2 - 6


@frozen
class GraphPicture:
    width: float
    height: float
    nodes: tuple[PlacedNode, ...]
    edges: tuple[PlacedEdge, ...]


def _back_edges(
    nodes: Sequence[str], successors: Mapping[str, Sequence[str]]
) -> set[tuple[str, str]]:
    """Edges that close a cycle in a depth-first search visiting IDs in order
    (iterative: a long chain of units must not exhaust the stack)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    back: set[tuple[str, str]] = set()
    for root in nodes:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(successors.get(root, ())))]
        while stack:
            node, pending = stack[-1]
            for nxt in pending:
                seen = state.get(nxt)
                if seen == 1:
                    back.add((node, nxt))
                elif seen is None:
                    state[nxt] = 1
                    stack.append((nxt, iter(successors.get(nxt, ()))))
                    break
            else:
                state[node] = 2
                stack.pop()
    return back


def _layers(nodes: Sequence[str], forward: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layering of an acyclic set of edges (Kahn's order)."""
    out: dict[str, list[str]] = defaultdict(list)
    indegree = dict.fromkeys(nodes, 0)
    for a, b in forward:
        out[a].append(b)
        indegree[b] += 1
    layer = dict.fromkeys(nodes, 0)
    ready = [n for n in nodes if indegree[n] == 0]
    while ready:
        node = ready.pop()
        for nxt in out[node]:
            layer[nxt] = max(layer[nxt], layer[node] + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    return layer


def _order(rows: list[list[str]], forward: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Barycentre sweeps: each layer sorted by its neighbours' mean position."""
    sources: dict[str, list[str]] = defaultdict(list)
    targets: dict[str, list[str]] = defaultdict(list)
    for a, b in forward:
        sources[b].append(a)
        targets[a].append(b)

    position = {n: p for row in rows for p, n in enumerate(row)}

    def sweep(order: Iterable[int], neighbours: Mapping[str, list[str]]) -> None:
        for i in order:
            keys: dict[str, tuple[float, str]] = {}
            for node in rows[i]:
                near = [position[m] for m in neighbours.get(node, ())]
                keys[node] = (sum(near) / len(near) if near else float(position[node]), node)
            rows[i] = sorted(rows[i], key=keys.__getitem__)
            position.update((n, p) for p, n in enumerate(rows[i]))

    for _ in range(_SWEEPS):
        sweep(range(1, len(rows)), sources)
        sweep(range(len(rows) - 2, -1, -1), targets)
    return rows


def within_prefix(view: GraphView, prefix: str) -> GraphView:
    """The part of ``view`` about the units whose IDs start with ``prefix``:
    those units, every edge from or to one of them, and the units at the
    other ends of those edges (what they depend on and what depends on
    them stays in the picture)."""
    if not prefix:
        return view
    edges = tuple(
        e
        for e in view.edges
        if e.from_unit_id.startswith(prefix) or e.to_unit_id.startswith(prefix)
    )
    ends = {u for e in edges for u in (e.from_unit_id, e.to_unit_id)}
    nodes = tuple(n for n in view.nodes if n.unit_id.startswith(prefix) or n.unit_id in ends)
    return GraphView(nodes=nodes, edges=edges)


def layout_graph(view: GraphView) -> GraphPicture:
    """The picture of ``view``: every unit it names placed once, every pair
    of connected units joined by one arrow (see the module docstring)."""
    colours = {n.unit_id: str(n.status) for n in view.nodes}
    outputs: dict[tuple[str, str], set[str]] = defaultdict(set)
    for edge in view.edges:
        outputs[(edge.from_unit_id, edge.to_unit_id)].add(edge.from_output)
        colours.setdefault(edge.from_unit_id, "green")
        colours.setdefault(edge.to_unit_id, "green")
    nodes = sorted(colours)
    pairs = sorted(outputs)
    successors: dict[str, list[str]] = defaultdict(list)
    for a, b in pairs:
        if a != b:
            successors[a].append(b)
    back = _back_edges(nodes, successors)
    forward = [(b, a) if (a, b) in back else (a, b) for a, b in pairs if a != b]
    layer = _layers(nodes, forward)
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for node in nodes:
        rows[layer[node]].append(node)
    rows = _order(rows, forward)
    tallest = max((len(row) for row in rows), default=0)
    # Room above the boxes for the loops of units depending on themselves.
    top = NODE_HEIGHT if any(a == b for a, b in pairs) else 0.0
    placed: dict[str, PlacedNode] = {}
    for i, row in enumerate(rows):
        offset = (tallest - len(row)) * (NODE_HEIGHT + ROW_GAP) / 2
        for j, node in enumerate(row):
            placed[node] = PlacedNode(
                unit_id=node,
                colour=colours[node],
                x=MARGIN + i * (NODE_WIDTH + LAYER_GAP),
                y=MARGIN + top + offset + j * (NODE_HEIGHT + ROW_GAP),
                width=NODE_WIDTH,
                height=NODE_HEIGHT,
                layer=i,
            )
    edges = []
    for a, b in pairs:
        src, dst = placed[a], placed[b]
        if a == b:
            start, end = (src.x + src.width * 0.7, src.y), (src.x + src.width * 0.3, src.y)
        else:
            start, end = (src.x + src.width, src.centre_y), (dst.x, dst.centre_y)
        edges.append(
            PlacedEdge(
                from_unit=a,
                to_unit=b,
                outputs=tuple(sorted(outputs[(a, b)])),
                start=start,
                end=end,
                back=(a, b) in back,
            )
        )
    width = 2 * MARGIN + len(rows) * (NODE_WIDTH + LAYER_GAP) - (LAYER_GAP if rows else 0)
    height = 2 * MARGIN + top + tallest * (NODE_HEIGHT + ROW_GAP) - (ROW_GAP if tallest else 0)
    return GraphPicture(
        width=width,
        height=height,
        nodes=tuple(placed[n] for n in nodes),
        edges=tuple(edges),
    )
