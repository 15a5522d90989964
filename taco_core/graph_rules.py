"""How a committed write changes the edges: the reference's rules, as pure functions.

When unit ``U``'s state is committed (through any surface), every edge is
looked at once, in graph order:

- **Source refresh** (edge from ``U``): if ``U``'s outputs have the edge's
  ``from_output``, its digest ``d`` is computed; when ``d`` differs from
  ``in_digest``, ``in_digest := d`` and ``last_in_at := now``. Then
  ``status := ok`` if ``out_digest`` is non-empty and equals ``d``, else
  ``pending``. If the output is missing, or the outputs cannot be read,
  ``status := unknown`` (the digests are kept).
- **Target acknowledge** (edge to ``U``), after the refresh, only when
  ``in_digest`` is non-empty: when ``out_digest`` differs, ``out_digest :=
  in_digest`` and ``last_out_at := now``; either way ``status := ok``.

``now`` is written as RFC 3339 UTC with seconds (``2025-01-02T03:04:05Z``).

Writes must be applied in commit order: a target acknowledged before its
source's refresh would be marked ``pending`` for a value it already consumed.
``apply_writes`` folds a batch in order, so a service that fell behind (the
graph unit was locked) catches up with the same result as applying each write
as it happened.

**Fresh edges.** The provider creates an edge with empty digests and status
``unknown``; the reference leaves it so until the source is next written. When
the graph unit itself is written, ``seed_edges`` fills in each fresh edge from
the current states of its ends at once:

- no source state, or no such output, or unreadable outputs: ``unknown``, with
  empty digests;
- otherwise ``in_digest`` is the output's digest and, if the target has a
  state, the edge counts as consumed (``out_digest := in_digest``, ``ok``):
  the target exists, and an edge declared between existing units describes how
  they already are; if the target has no state yet, ``pending`` with an empty
  ``out_digest`` (the target has consumed nothing).

An edge is fresh when its ID is new to the graph (created, or re-pointed by an
update, which changes the ID but carries the old digests over) or when it has
never had a digest; seeding is idempotent. ``apply_updates`` applies queued
unit writes before seeding (see there why that order).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
from attrs import field, frozen

from taco_core.canonical_json import loads_like_go
from taco_core.digest import value_digest
from taco_core.graph import Edge, EdgeStatus, normalize_edge_unit_id
from taco_core.model import Payload


@frozen
class UnitOutputs:
    """The outputs of one state, as the digest rules read them.

    ``values`` maps each output's name to its decoded ``value`` (numbers as
    Go reads them); ``None`` means the outputs could not be read, which the
    rules treat like a missing output. Digests are computed once per name.
    """

    values: Mapping[str, Any] | None
    _digests: dict[str, str] = field(factory=dict, init=False, eq=False, repr=False)

    def digest(self, name: str) -> str | None:
        """The digest of output ``name``, or ``None`` if there is no such output."""
        if self.values is None or name not in self.values:
            return None
        found = self._digests.get(name)
        if found is None:
            found = self._digests[name] = value_digest(self.values[name])
        return found


UNREADABLE = UnitOutputs(None)


def read_outputs(data: Payload) -> UnitOutputs:
    """The outputs of a state's bytes.

    Unreadable (``values is None``) when the bytes are not a JSON object or
    ``outputs`` is not an object. An output entry without a ``value`` member
    (Terraform always writes one) counts as missing.
    """
    try:
        doc = loads_like_go(data)
    except (ValueError, RecursionError):
        return UNREADABLE
    outputs = doc.get("outputs") if isinstance(doc, dict) else None
    if not isinstance(outputs, dict):
        return UNREADABLE
    return UnitOutputs(
        {
            name: entry["value"]
            for name, entry in outputs.items()
            if isinstance(entry, dict) and "value" in entry
        }
    )


def rfc3339(moment: datetime) -> str:
    """``moment`` as the reference writes timestamps (Go's ``time.RFC3339`` in UTC)."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def refresh_source(edge: Edge, outputs: UnitOutputs, stamp: str) -> Edge:
    """Rule A: the edge's source was written with ``outputs`` at ``stamp``."""
    digest = outputs.digest(edge.from_output)
    if digest is None:
        return attrs.evolve(edge, status=EdgeStatus.UNKNOWN.value)
    if digest != edge.in_digest:
        edge = attrs.evolve(edge, in_digest=digest, last_in_at=stamp)
    consumed = bool(edge.out_digest) and edge.out_digest == digest
    status = EdgeStatus.OK if consumed else EdgeStatus.PENDING
    return attrs.evolve(edge, status=status.value)


def acknowledge_target(edge: Edge, stamp: str) -> Edge:
    """Rule B: the edge's target was written at ``stamp``, consuming ``in_digest``."""
    if not edge.in_digest:
        return edge
    if edge.out_digest != edge.in_digest:
        edge = attrs.evolve(edge, out_digest=edge.in_digest, last_out_at=stamp)
    return attrs.evolve(edge, status=EdgeStatus.OK.value)


@frozen
class UnitWrite:
    """A committed state of ``unit_id``: its outputs and when it was committed."""

    unit_id: str
    outputs: UnitOutputs
    at: datetime


def apply_writes(edges: Sequence[Edge], writes: Iterable[UnitWrite]) -> dict[int, Edge]:
    """The edges that ``writes``, applied in order, change: index -> new edge.

    An edge changed and then changed back is not reported; an empty result
    means the graph state need not be rewritten.
    """
    by_unit: defaultdict[str, list[int]] = defaultdict(list)
    for index, edge in enumerate(edges):
        by_unit[edge.from_unit_id].append(index)
        if edge.to_unit_id != edge.from_unit_id:
            by_unit[edge.to_unit_id].append(index)
    current = dict(enumerate(edges))
    touched: set[int] = set()
    for write in writes:
        unit = normalize_edge_unit_id(write.unit_id)
        stamp = rfc3339(write.at)
        for index in by_unit.get(unit, ()):
            edge = current[index]
            if edge.from_unit_id == unit:
                edge = refresh_source(edge, write.outputs, stamp)
            if edge.to_unit_id == unit:
                edge = acknowledge_target(edge, stamp)
            current[index] = edge
            touched.add(index)
    return {i: current[i] for i in sorted(touched) if current[i] != edges[i]}


def apply_write(
    edges: Sequence[Edge], unit_id: str, outputs: UnitOutputs, at: datetime
) -> dict[int, Edge]:
    """``apply_writes`` for one write."""
    return apply_writes(edges, [UnitWrite(unit_id, outputs, at)])


def is_fresh(edge: Edge, known_ids: Collection[str]) -> bool:
    """Whether ``seed_edges`` should compute this edge's digests."""
    return edge.id not in known_ids or not (edge.in_digest or edge.out_digest)


def units_to_seed(edges: Iterable[Edge], known_ids: Collection[str] = ()) -> frozenset[str]:
    """The units whose current states ``seed_edges`` needs (both ends of every
    fresh edge)."""
    units: set[str] = set()
    for edge in edges:
        if is_fresh(edge, known_ids):
            units.add(edge.from_unit_id)
            units.add(edge.to_unit_id)
    return frozenset(units)


def seed_edge(edge: Edge, source: UnitOutputs | None, target_exists: bool, stamp: str) -> Edge:
    """A fresh edge filled in from its ends' current states (``source`` is
    ``None`` when the source unit has no state)."""
    digest = source.digest(edge.from_output) if source is not None else None
    if digest is None:
        return attrs.evolve(edge, in_digest="", out_digest="", status=EdgeStatus.UNKNOWN.value)
    if digest != edge.in_digest:
        edge = attrs.evolve(edge, in_digest=digest, last_in_at=stamp)
    if not target_exists:
        return attrs.evolve(edge, out_digest="", status=EdgeStatus.PENDING.value)
    if edge.out_digest != digest:
        edge = attrs.evolve(edge, out_digest=digest, last_out_at=stamp)
    return attrs.evolve(edge, status=EdgeStatus.OK.value)


def seed_edges(
    edges: Sequence[Edge],
    states: Mapping[str, UnitOutputs],
    at: datetime,
    *,
    known_ids: Collection[str] = (),
) -> dict[int, Edge]:
    """The fresh edges filled in: index -> new edge (unchanged ones left out).

    ``states`` holds the outputs of the current state of every unit in
    ``units_to_seed`` that has one; a unit missing from it has no state.
    ``known_ids`` are the edge IDs of the graph's previous version.
    """
    stamp = rfc3339(at)
    # The same dependency declared twice (two resources, one edge ID) is one
    # edge: a fresh copy takes what the service already knows of it, rather
    # than the seeding guess that its target is up to date.
    settled: dict[str, Edge] = {}
    for edge in edges:
        if not is_fresh(edge, known_ids):
            settled.setdefault(edge.id, edge)
    changed: dict[int, Edge] = {}
    for index, edge in enumerate(edges):
        if not is_fresh(edge, known_ids):
            continue
        twin = settled.get(edge.id)
        if twin is not None:
            seeded = attrs.evolve(
                edge,
                in_digest=twin.in_digest,
                out_digest=twin.out_digest,
                status=twin.status,
                last_in_at=twin.last_in_at,
                last_out_at=twin.last_out_at,
            )
        else:
            seeded = seed_edge(
                edge, states.get(edge.from_unit_id), edge.to_unit_id in states, stamp
            )
        if seeded != edge:
            changed[index] = seeded
    return changed


@frozen
class GraphWrite:
    """The graph unit itself was committed (by Terraform or the API), so some
    edges may be fresh.

    ``states`` holds the current outputs of every unit in ``units_to_seed``
    that has a state; ``known_ids`` are the edge IDs of the last graph version
    the service processed; ``at`` is when the graph was committed.
    """

    states: Mapping[str, UnitOutputs]
    known_ids: Collection[str]
    at: datetime


def apply_updates(
    edges: Sequence[Edge],
    writes: Iterable[UnitWrite] = (),
    graph_write: GraphWrite | None = None,
) -> dict[int, Edge]:
    """Unit writes not yet applied (in commit order), then the seeding a graph
    write calls for: index -> new edge, unchanged ones left out.

    Seeding goes last. A queued write gives a known edge its digests, so seeding
    then leaves it alone; seeded first, the edge would take its source's current
    value (which already includes the queued write) as consumed by the target,
    and the queued write would find nothing left to mark pending.
    """
    changed = apply_writes(edges, writes)
    if graph_write is None:
        return changed
    current = [changed.get(i, edge) for i, edge in enumerate(edges)]
    seeded = seed_edges(
        current, graph_write.states, graph_write.at, known_ids=graph_write.known_ids
    )
    merged = {**changed, **seeded}
    return {i: merged[i] for i in sorted(merged) if merged[i] != edges[i]}
