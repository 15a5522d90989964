"""Reconciling the graph from current states: what a restart (or another
replica's writes) leaves the service with, against applying every write.

Each unit starts with output value ``v0`` at ``T0`` and the edges seeded
from that; then writes a second or more apart, the last of them (from
``crash`` on) never applied. The exact answer applies them one by one.
"""

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
# "same" keeps the unit's value (a re-apply with no change), "new" gives it a
# value it never had, "drop" removes the output (once per unit).
steps = st.lists(
    st.tuples(st.sampled_from(UNITS), st.sampled_from(["same", "new", "drop"])), max_size=12
)


def never_recurring(history: list[tuple[str, str]]) -> list[tuple[str, Any]]:
    """Values where no unit ever gets back a value (or absence) it left."""
    current: dict[str, Any] = dict.fromkeys(UNITS, "v0")
    dropped: set[str] = set()
    out: list[tuple[str, Any]] = []
    for n, (unit, step) in enumerate(history):
        if step == "new" and current[unit] is not None:
            current[unit] = f"n{n}"
        elif step == "drop" and unit not in dropped:
            dropped.add(unit)
            current[unit] = None
        out.append((unit, current[unit]))
    return out


def outputs(value: str | None) -> UnitOutputs:
    return UnitOutputs({} if value is None else {"out": value})


def fresh(source: str, target: str) -> Edge:
    return Edge(edge_id(source, "out", target), source, "out", target, "out", status="unknown")


def apply(edges: list[Edge], changes: dict[int, Edge]) -> list[Edge]:
    return [changes.get(i, e) for i, e in enumerate(edges)]


def timed(history: list[tuple[str, Any]]) -> list[UnitWrite]:
    return [
        UnitWrite(unit, outputs(value), T0 + timedelta(seconds=2 * (i + 1)))
        for i, (unit, value) in enumerate(history)
    ]


def dated_head(unit: str, writes: list[UnitWrite]) -> UnitHead:
    """The unit's current state, its output dated from its whole history, as
    the service reads it."""
    own = [UnitWrite(unit, outputs("v0"), T0), *(w for w in writes if w.unit_id == unit)]
    current = own[-1]
    value = current.outputs.digest("out")
    since = current.at
    for write in reversed(own):
        if write.outputs.digest("out") != value:
            break
        since = write.at
    return UnitHead(current.outputs, current.at, {"out": since})


def bare_head(unit: str, writes: list[UnitWrite]) -> UnitHead:
    """The unit's current state and commit time, nothing more."""
    own = [w for w in writes if w.unit_id == unit]
    return UnitHead(own[-1].outputs, own[-1].at) if own else UnitHead(outputs("v0"), T0)


def scenario(
    links: list[tuple[str, str]], history: list[tuple[str, Any]], crash: int
) -> tuple[list[Edge], list[Edge], list[UnitWrite]]:
    """The graph as last applied, the graph after every write, and the writes."""
    edges = [fresh(s, t) for s, t in links]
    edges = apply(edges, seed_edges(edges, {u: outputs("v0") for u in UNITS}, T0))
    writes = timed(history)
    crash = min(crash, len(writes))
    applied = apply(edges, apply_writes(edges, writes[:crash]))
    exact = apply(applied, apply_writes(applied, writes[crash:]))
    return applied, exact, writes


@given(links=links, history=steps, crash=st.integers(0, 12))
def test_reconciling_after_lost_writes_gives_the_statuses_of_applying_them(
    links: list[tuple[str, str]], history: list[tuple[str, str]], crash: int
) -> None:
    """With each value dated from the unit's history, and no value coming back
    once left, reconciling gives every edge the status (and digest) that
    applying the lost writes one by one gives; reconciling again changes nothing."""
    applied, exact, writes = scenario(links, never_recurring(history), crash)
    heads = {u: dated_head(u, writes) for u in UNITS}
    reconciled = apply(applied, reconcile_edges(applied, heads))
    note(f"{applied=}\n{exact=}\n{reconciled=}")
    assert [e.status for e in reconciled] == [e.status for e in exact]
    # A digest is the source's current one, except under a missing output.
    present = [i for i, e in enumerate(exact) if heads[e.from_unit_id].outputs.digest("out")]
    assert [reconciled[i].in_digest for i in present] == [exact[i].in_digest for i in present]
    assert reconcile_edges(reconciled, heads) == {}
    assert reconcile_edges(exact, heads) == {}


@given(links=links, history=steps, crash=st.integers(0, 12), dated=st.booleans())
def test_a_needed_re_apply_is_never_hidden(
    links: list[tuple[str, str]], history: list[tuple[str, str]], crash: int, dated: bool
) -> None:
    """Dated from history or not: every edge that applying the lost writes
    leaves pending is pending after reconciling too. (The one case it may not
    be: an edge that was ok while its source's value left and came back, with
    its consumer applied in between, all of it lost; see docs/dependencies.md.)"""
    applied, exact, writes = scenario(links, never_recurring(history), crash)
    head = dated_head if dated else bare_head
    heads = {u: head(u, writes) for u in UNITS}
    reconciled = apply(applied, reconcile_edges(applied, heads))
    note(f"{applied=}\n{exact=}\n{reconciled=}")
    for got, want in zip(reconciled, exact, strict=True):
        if want.status == "pending":
            assert got.status == "pending"


def test_a_target_written_in_the_same_second_stays_pending() -> None:
    """The one-second precision of last_in_at: an acknowledgement needs a
    target committed a whole second after the change."""
    edge = Edge("e", "a", "out", "b", "out", "d2", "d1", "pending", "2026-01-01T00:00:05Z")
    assert not certainly_after(edge, datetime(2026, 1, 1, 0, 0, 5, 900_000, tzinfo=UTC))
    assert certainly_after(edge, datetime(2026, 1, 1, 0, 0, 6, tzinfo=UTC))
    assert certainly_after(Edge("e", "a", "out", "b", "out", "d2", "", "pending"), T0)
    heads = {"b": UnitHead(UnitOutputs({}), datetime(2026, 1, 1, 0, 0, 5, 500_000, tzinfo=UTC))}
    assert reconcile_edges([edge], heads) == {}


def test_a_value_that_came_back_is_not_taken_as_consumed() -> None:
    """a shows v2, then v1 (lost), b applies, a shows v2 again (lost): b
    consumed v1, so the edge is pending although its recorded digest is a's
    current one."""
    applied, exact, writes = scenario(
        [("a", "b")], [("a", "v2"), ("a", "v1"), ("b", "x"), ("a", "v2")], 1
    )
    heads = {u: dated_head(u, writes) for u in UNITS}
    reconciled = apply(applied, reconcile_edges(applied, heads))
    assert applied[0].in_digest == reconciled[0].in_digest
    assert [e.status for e in exact] == [e.status for e in reconciled] == ["pending"]
