"""Catching the graph up from the units' current states, when their writes were never applied.

The graph service applies each committed write in commit order
(``graph_rules.apply_writes``). Some writes it never sees: the process stopped
between a commit and the graph update, or another replica sharing the storage
committed them. What is left of them is each unit's current state, when it was
committed, and (from its history) since when each output has had its current
value. ``reconcile_edges`` brings every edge up to date from that. The rules
touch one edge at a time, so each edge is replayed on its own, its two events
in time order:

- **Source refresh** (rule A) with the source's current outputs, at the time
  the output took its current value. The rule only depends on the latest
  value, so the digests and the status it leaves are exact.
- **Target acknowledge** (rule B) at the time the target's current version was
  committed: before the refresh if the target was written before the value
  changed (it consumed the old one, when written a whole second or more after
  the edge's ``last_in_at``, which has one-second precision), after it
  otherwise.

When the time a value appeared is not known (``UnitHead.since`` leaves it
out), the source's commit time stands in. Whatever is uncertain (a value
that left and came back between lost writes, a target written in the same
second as a change) is answered so as to ask for a re-apply that may not be
needed; it never hides one that is.

Reconciling a graph that is already up to date changes nothing: a refresh with
the digest already recorded keeps the status it has (``ok`` when consumed,
else ``pending``), and an acknowledgement of a consumed value changes nothing.
So the service may reconcile at any time (at start, and periodically for
writes made by other replicas) without first knowing which writes it missed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from attrs import field, frozen

from taco_core.graph import Edge, normalize_edge_unit_id
from taco_core.graph_rules import UnitOutputs, acknowledge_target, refresh_source, rfc3339

# ``last_in_at`` is written to the second: a target committed this long after
# it is certainly later than the source's change.
_PRECISION = timedelta(seconds=1)


@frozen
class UnitHead:
    """A unit's current state, as the reconciliation reads it: its outputs,
    when that version was committed, and for some outputs since when they
    have had their current value (from the unit's history)."""

    outputs: UnitOutputs
    at: datetime
    since: Mapping[str, datetime] = field(factory=dict)

    def changed_at(self, output: str) -> datetime:
        """When ``output`` took its current value (or went missing), or (not
        known) the commit time."""
        return self.since.get(output, self.at)


def _parse_stamp(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def certainly_after(edge: Edge, at: datetime) -> bool:
    """Whether a target committed at ``at`` certainly consumed the edge's
    recorded ``in_digest``: committed a whole second or more after
    ``last_in_at`` (or the edge records no time for its input, so nothing
    says otherwise)."""
    changed = _parse_stamp(edge.last_in_at) if edge.last_in_at else None
    return changed is None or at >= changed + _PRECISION


def _replay(edge: Edge, source: UnitHead | None, target: UnitHead | None) -> Edge:
    """One edge's events in time order: the source's output took its value
    (``changed``), the target was written (``target.at``), the source was
    written again (``source.at``, which re-asserts the status: a missing
    output makes the edge ``unknown`` again)."""
    if source is None:
        if target is not None and certainly_after(edge, target.at):
            edge = acknowledge_target(edge, rfc3339(target.at))
        return edge
    changed = source.changed_at(edge.from_output)
    stamp = rfc3339(changed)
    if target is None:
        return refresh_source(edge, source.outputs, stamp)
    digest = source.outputs.digest(edge.from_output)
    if digest == edge.in_digest:
        # The value the edge recorded is the current one. Dated by the
        # history, the target consumed it if written since; undated, the
        # value may have left and come back in between, so only a target
        # written after the source's current version surely consumed it. A
        # target written before consumed some other value: nothing to record.
        known = edge.from_output in source.since
        after = target.at > changed if known else target.at > source.at
    else:
        after = target.at > changed
        if not after and certainly_after(edge, target.at):
            # Written before the change, after the value the edge recorded.
            edge = acknowledge_target(edge, rfc3339(target.at))
    edge = refresh_source(edge, source.outputs, stamp)
    if after:
        edge = acknowledge_target(edge, rfc3339(target.at))
        if target.at < source.at:
            edge = refresh_source(edge, source.outputs, stamp)
    return edge


def reconcile_edges(edges: Sequence[Edge], heads: Mapping[str, UnitHead]) -> dict[int, Edge]:
    """The edges that the units' current ``heads`` change: index -> new edge.

    ``heads`` maps unit IDs (as edges name them) to their current state; a
    unit left out is not looked at (it has no state, or has not changed since
    the last reconciliation).
    """
    by_id = {normalize_edge_unit_id(unit): head for unit, head in heads.items()}
    changed: dict[int, Edge] = {}
    for index, edge in enumerate(edges):
        source = by_id.get(edge.from_unit_id)
        target = by_id.get(edge.to_unit_id)
        if source is None and target is None:
            continue
        new = _replay(edge, source, target)
        if new != edge:
            changed[index] = new
    return changed
