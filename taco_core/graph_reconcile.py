"""Catching the graph up from the units' current states, when their writes were never applied.

The graph service applies each committed write in commit order
(``graph_rules.apply_writes``). Some writes it never sees: the process stopped
between a commit and the graph update, or another replica sharing the storage
committed them. What is left of them is each unit's current state and when it
was committed; ``reconcile_edges`` brings the edges up to date from that:

- **Source refresh** as rule A with the unit's current outputs. The rule only
  depends on the latest value, so this is exact.
- **Target acknowledge** as rule B, but only when the unit's current version
  is certainly newer than the change it would acknowledge: committed at least
  one second after the edge's ``last_in_at``, which has one-second precision.
  A target written in the same second as its source changed stays
  ``pending``: if the answer is wrong, it asks for a re-apply that was not
  needed; it never hides one that is.

Units are taken in commit order, so a source committed before its target is
refreshed before the target's acknowledgement is considered, as it happened.

Reconciling a graph that is already up to date changes nothing: a refresh with
the digest already recorded keeps the status it has (``ok`` when consumed,
else ``pending``), and an acknowledgement never turns ``ok`` into ``pending``.
So the service may reconcile at any time (at start, and periodically for
writes made by other replicas) without first knowing which writes it missed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from attrs import frozen

from taco_core.graph import Edge, normalize_edge_unit_id
from taco_core.graph_rules import UnitOutputs, acknowledge_target, refresh_source, rfc3339

# ``last_in_at`` is written to the second: a target committed this long after
# it is certainly later than the source's change.
_PRECISION = timedelta(seconds=1)


@frozen
class UnitHead:
    """A unit's current state, as the reconciliation reads it: its outputs and
    when that version was committed."""

    outputs: UnitOutputs
    at: datetime


def _parse_stamp(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def certainly_after(edge: Edge, at: datetime) -> bool:
    """Whether a target committed at ``at`` certainly consumed the edge's
    ``in_digest``: committed a whole second or more after ``last_in_at`` (or
    the edge records no time for its input, so nothing says otherwise)."""
    changed = _parse_stamp(edge.last_in_at) if edge.last_in_at else None
    return changed is None or at >= changed + _PRECISION


def reconcile_edges(edges: Sequence[Edge], heads: Mapping[str, UnitHead]) -> dict[int, Edge]:
    """The edges that the units' current ``heads`` change: index -> new edge.

    ``heads`` maps unit IDs (as edges name them) to their current state; a
    unit left out is not looked at (it has no state, or has not changed since
    the last reconciliation).
    """
    by_unit: defaultdict[str, list[int]] = defaultdict(list)
    for index, edge in enumerate(edges):
        by_unit[edge.from_unit_id].append(index)
        if edge.to_unit_id != edge.from_unit_id:
            by_unit[edge.to_unit_id].append(index)
    current = dict(enumerate(edges))
    touched: set[int] = set()
    order = sorted(
        ((normalize_edge_unit_id(unit), head) for unit, head in heads.items()),
        key=lambda item: (item[1].at, item[0]),
    )
    for unit, head in order:
        stamp = rfc3339(head.at)
        for index in by_unit.get(unit, ()):
            edge = current[index]
            if edge.from_unit_id == unit:
                edge = refresh_source(edge, head.outputs, stamp)
            if edge.to_unit_id == unit and certainly_after(edge, head.at):
                edge = acknowledge_target(edge, stamp)
            current[index] = edge
            touched.add(index)
    return {i: current[i] for i in sorted(touched) if current[i] != edges[i]}
