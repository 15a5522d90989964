"""Reconciling the graph from current states: what a restart (or another
replica's writes) leaves the service with, against applying every write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, note
from hypothesis import strategies as st

from taco_core.digest import edge_id
from taco_core.graph import Edge
from taco_core.graph_reconcile import UnitHead, certainly_after, reconcile_edges
from taco_core.graph_rules import UnitOutputs, UnitWrite, apply_writes, seed_edges

UNITS = ["a", "b", "c", "d"]
T0 = datetime(2026, 1, 1, tzinfo=UTC)

links = st.lists(
    st.tuples(st.sampled_from(UNITS), st.sampled_from(UNITS)).filter(lambda ln: ln[0] != ln[1]),
    min_size=1,
    max_size=6,
    unique=True,
)
writes = st.lists(
    st.tuples(st.sampled_from(UNITS), st.one_of(st.none(), st.sampled_from(["v1", "v2", "v3"]))),
    max_size=12,
)


def outputs(value: str | None) -> UnitOutputs:
    return UnitOutputs({} if value is None else {"out": value})


def fresh(source: str, target: str) -> Edge:
    return Edge(edge_id(source, "out", target), source, "out", target, "out", status="unknown")


def apply(edges: list[Edge], changes: dict[int, Edge]) -> list[Edge]:
    return [changes.get(i, e) for i, e in enumerate(edges)]


def since_history(unit: str, timed: list[UnitWrite]) -> UnitHead:
    """The unit's current state, dated from its whole history (v0 at T0 first)."""
    own = [UnitWrite(unit, outputs("v0"), T0), *(w for w in timed if w.unit_id == unit)]
    current = own[-1]
    value = current.outputs.digest("out")
    since = current.at
    for write in reversed(own):
        if write.outputs.digest("out") != value:
            break
        since = write.at
    return UnitHead(current.outputs, current.at, {"out": since})


@given(links=links, history=writes, data=st.data())
def test_reconciling_after_lost_writes_gives_the_statuses_of_applying_them(
    links: list[tuple[str, str]], history: list[tuple[str, Any]], data: st.DataObject
) -> None:
    """Writes a second or more apart, the last ones never applied: reconciling
    from each unit's current state gives every edge the status applying the
    lost writes one by one gives; reconciling again changes nothing."""
    edges = [fresh(s, t) for s, t in links]
    states = {u: outputs("v0") for u in UNITS}
    edges = apply(edges, seed_edges(edges, states, T0))
    timed = [
        UnitWrite(unit, outputs(value), T0 + timedelta(seconds=2 * (i + 1)))
        for i, (unit, value) in enumerate(history)
    ]
    crash = data.draw(st.integers(0, len(timed)))
    applied = apply(edges, apply_writes(edges, timed[:crash]))
    exact = apply(applied, apply_writes(applied, timed[crash:]))
    heads = {u: since_history(u, timed) for u in UNITS}
    reconciled = apply(applied, reconcile_edges(applied, heads))
    note(f"{links=} {history=} {crash=}\n{applied=}\n{exact=}\n{reconciled=}")
    assert [e.status for e in reconciled] == [e.status for e in exact]
    # A digest is the source's current one, except under a missing output.
    known = [i for i, e in enumerate(exact) if heads[e.from_unit_id].outputs.digest("out")]
    assert [reconciled[i].in_digest for i in known] == [exact[i].in_digest for i in known]
    assert reconcile_edges(reconciled, heads) == {}
    assert reconcile_edges(exact, heads) == {}


def test_a_target_written_in_the_same_second_stays_pending() -> None:
    """The one-second precision of last_in_at: an acknowledgement needs a
    target committed a whole second after the change."""
    edge = Edge("e", "a", "out", "b", "out", "d2", "d1", "pending", "2026-01-01T00:00:05Z")
    assert not certainly_after(edge, datetime(2026, 1, 1, 0, 0, 5, 900_000, tzinfo=UTC))
    assert certainly_after(edge, datetime(2026, 1, 1, 0, 0, 6, tzinfo=UTC))
    assert certainly_after(Edge("e", "a", "out", "b", "out", "d2", "", "pending"), T0)
    heads = {"b": UnitHead(UnitOutputs({}), datetime(2026, 1, 1, 0, 0, 5, 500_000, tzinfo=UTC))}
    assert reconcile_edges([edge], heads) == {}


@given(links=links, history=writes, data=st.data())
def test_without_history_a_needed_re_apply_is_never_hidden(
    links: list[tuple[str, str]], history: list[tuple[str, Any]], data: st.DataObject
) -> None:
    """With only each unit's current state and commit time (no history to
    date values), every edge that applying the lost writes leaves pending is
    pending after reconciling too."""
    edges = [fresh(s, t) for s, t in links]
    edges = apply(edges, seed_edges(edges, {u: outputs("v0") for u in UNITS}, T0))
    timed = [
        UnitWrite(unit, outputs(value), T0 + timedelta(seconds=2 * (i + 1)))
        for i, (unit, value) in enumerate(history)
    ]
    crash = data.draw(st.integers(0, len(timed)))
    applied = apply(edges, apply_writes(edges, timed[:crash]))
    exact = apply(applied, apply_writes(applied, timed[crash:]))
    heads = {u: UnitHead(outputs("v0"), T0) for u in UNITS}
    for write in timed:
        heads[write.unit_id] = UnitHead(write.outputs, write.at)
    reconciled = apply(applied, reconcile_edges(applied, heads))
    for got, want in zip(reconciled, exact, strict=True):
        if want.status == "pending":
            assert got.status == "pending"
