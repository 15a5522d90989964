"""Unit colours from the graph: green (up to date), red (needs re-apply),
yellow (might need re-apply).

- **red**: the unit has an incoming edge whose status is ``pending``. Red wins
  over yellow.
- **yellow**: not red, and reachable from a red unit by following edges from
  source to target, any number of steps. Reachability follows every edge
  whatever its status, as the reference's search does: an edge whose digest is
  ``unknown`` is still a dependency. Statuses matter only to the red rule, so
  an ``unknown`` edge never makes its target red.
- **green**: otherwise, including units the graph does not mention.

A ``GraphIndex`` is built once per version of the graph unit's state, in
O(units + edges), and then answers for one unit, a prefix or the whole graph
without looking at the edges again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum

from attrs import frozen

from taco_core.graph import Edge, EdgeStatus, Graph, normalize_edge_unit_id


class Colour(StrEnum):
    GREEN = "green"
    RED = "red"
    YELLOW = "yellow"


@frozen
class Summary:
    """Counts of a unit's incoming edges; any status but ok and pending is unknown."""

    incoming_ok: int = 0
    incoming_pending: int = 0
    incoming_unknown: int = 0


@frozen
class UnitStatus:
    """The reference's status payload for one unit.

    ``incoming`` is ``None`` when there is no graph at all (missing or corrupt
    graph state) and empty when the graph does not point at the unit. It is
    sorted pending first, then unknown (and any other status), then ok; ties
    by source unit, then source output, then edge ID.

    ``offender`` (beyond the reference) is the unit to look at first:
    ``GraphIndex.offender``, ``None`` for a green unit.
    """

    unit_id: str
    status: Colour
    incoming: tuple[Edge, ...] | None
    summary: Summary
    offender: str | None = None


@frozen
class GraphNode:
    """One unit of the whole-graph view."""

    unit_id: str
    status: Colour
    summary: Summary


@frozen
class GraphView:
    """Every unit the graph mentions with its colour, and every edge."""

    nodes: tuple[GraphNode, ...]
    edges: tuple[Edge, ...]


@frozen
class ColourChange:
    """A unit whose colour differs between two versions of the graph.

    ``cause`` is the edge that makes it red or yellow (in the newer graph), or
    that made it so (in the older one) when it turned green.
    """

    unit_id: str
    before: Colour
    after: Colour
    cause: Edge | None


_RANK = {EdgeStatus.PENDING.value: 0, EdgeStatus.OK.value: 2}


def _incoming_order(edge: Edge) -> tuple[int, str, str, str]:
    return (_RANK.get(edge.status, 1), edge.from_unit_id, edge.from_output, edge.id)


def _summary(edges: Iterable[Edge]) -> Summary:
    ok = pending = unknown = 0
    for edge in edges:
        if edge.status == EdgeStatus.OK:
            ok += 1
        elif edge.status == EdgeStatus.PENDING:
            pending += 1
        else:
            unknown += 1
    return Summary(ok, pending, unknown)


class GraphIndex:
    """Colours of every unit of one graph version, computed once.

    Build it from ``read_graph``'s result (``None`` for a missing or corrupt
    graph) and keep it until the graph unit's head changes.
    """

    __slots__ = ("_edges", "_exists", "_incoming", "_outgoing", "_reach", "_red", "_units")

    def __init__(self, edges: Sequence[Edge] | None) -> None:
        self._exists = edges is not None
        self._edges: tuple[Edge, ...] = tuple(edges or ())
        self._incoming: dict[str, list[Edge]] = {}
        self._outgoing: dict[str, list[Edge]] = {}
        red: set[str] = set()
        for edge in self._edges:
            self._incoming.setdefault(edge.to_unit_id, []).append(edge)
            self._outgoing.setdefault(edge.from_unit_id, []).append(edge)
            if edge.status == EdgeStatus.PENDING:
                red.add(edge.to_unit_id)
        self._units = tuple(sorted(self._incoming.keys() | self._outgoing.keys()))
        self._red = frozenset(red)
        # Breadth-first from every red unit (in ID order, so the edge recorded
        # as each yellow unit's cause is deterministic): unit -> (edge that
        # first reached it, red unit the search started from).
        self._reach: dict[str, tuple[Edge, str]] = {}
        queue: deque[tuple[str, str]] = deque((unit, unit) for unit in sorted(red))
        while queue:
            unit, origin = queue.popleft()
            for edge in self._outgoing.get(unit, ()):
                target = edge.to_unit_id
                if target in self._red or target in self._reach:
                    continue
                self._reach[target] = (edge, origin)
                queue.append((target, origin))

    @classmethod
    def from_graph(cls, graph: Graph | None) -> GraphIndex:
        return cls(graph.edges if graph is not None else None)

    @property
    def exists(self) -> bool:
        """False when built for a missing or corrupt graph."""
        return self._exists

    @property
    def units(self) -> tuple[str, ...]:
        """Every unit an edge names, sorted."""
        return self._units

    @property
    def edges(self) -> tuple[Edge, ...]:
        return self._edges

    def colour(self, unit_id: str) -> Colour:
        unit = normalize_edge_unit_id(unit_id)
        if unit in self._red:
            return Colour.RED
        if unit in self._reach:
            return Colour.YELLOW
        return Colour.GREEN

    def incoming(self, unit_id: str) -> tuple[Edge, ...]:
        """The edges into the unit, in the status payload's order."""
        edges = self._incoming.get(normalize_edge_unit_id(unit_id), ())
        return tuple(sorted(edges, key=_incoming_order))

    def outgoing(self, unit_id: str) -> tuple[Edge, ...]:
        """The edges out of the unit, in graph order."""
        return tuple(self._outgoing.get(normalize_edge_unit_id(unit_id), ()))

    def cause(self, unit_id: str) -> Edge | None:
        """Why the unit is not green: for red, its first pending incoming edge;
        for yellow, the edge by which the search from a red unit reached it."""
        unit = normalize_edge_unit_id(unit_id)
        if unit in self._red:
            return self.incoming(unit)[0]
        reached = self._reach.get(unit)
        return reached[0] if reached is not None else None

    def offender(self, unit_id: str) -> str | None:
        """The red unit to re-apply first: the source of a red unit's first
        pending edge, or the red unit upstream of a yellow one."""
        unit = normalize_edge_unit_id(unit_id)
        if unit in self._red:
            return self.incoming(unit)[0].from_unit_id
        reached = self._reach.get(unit)
        return reached[1] if reached is not None else None

    def status(self, unit_id: str) -> UnitStatus:
        """The status payload of ``unit_id`` (any unit, in the graph or not)."""
        if not self._exists:
            return UnitStatus(unit_id, Colour.GREEN, None, Summary())
        incoming = self.incoming(unit_id)
        colour = self.colour(unit_id)
        offender = None if colour is Colour.GREEN else self.offender(unit_id)
        return UnitStatus(unit_id, colour, incoming, _summary(incoming), offender)

    def statuses(self, prefix: str = "") -> list[UnitStatus]:
        """The status of every unit of the graph whose ID starts with ``prefix``
        (a plain string prefix, as unit listings use), sorted by ID."""
        return [self.status(unit) for unit in self._units if unit.startswith(prefix)]

    def view(self, visible: Callable[[str], bool] | None = None) -> GraphView:
        """The whole graph; with ``visible``, only the units it accepts and the
        edges between two of them (colours still come from the whole graph)."""
        show = visible or (lambda _unit: True)
        nodes = tuple(
            GraphNode(unit, self.colour(unit), _summary(self._incoming.get(unit, ())))
            for unit in self._units
            if show(unit)
        )
        edges = tuple(e for e in self._edges if show(e.from_unit_id) and show(e.to_unit_id))
        return GraphView(nodes, edges)


def colour_changes(before: GraphIndex, after: GraphIndex) -> list[ColourChange]:
    """Every unit whose colour differs between two graph versions, by unit ID."""
    changes: list[ColourChange] = []
    for unit in sorted(set(before.units) | set(after.units)):
        old, new = before.colour(unit), after.colour(unit)
        if old != new:
            cause = after.cause(unit) if new is not Colour.GREEN else before.cause(unit)
            changes.append(ColourChange(unit, old, new, cause))
    return changes
