"""The write rules (reference §5 step 3, §13 item 9) and the seeding of fresh edges."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest

from taco_core.digest import value_digest
from taco_core.graph import Edge
from taco_core.graph_rules import (
    UNREADABLE,
    GraphWrite,
    UnitOutputs,
    UnitWrite,
    acknowledge_target,
    apply_updates,
    apply_write,
    apply_writes,
    is_fresh,
    read_outputs,
    refresh_source,
    rfc3339,
    seed_edge,
    seed_edges,
    units_to_seed,
)
from tests.unit.graph_states import unit_state

NOW = datetime(2025, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)
STAMP = "2025-03-04T05:06:07Z"
EARLIER = "2025-01-01T00:00:00Z"
D1 = value_digest("v1")
D2 = value_digest("v2")


def edge(source: str = "a", target: str = "b", **computed: str) -> Edge:
    return Edge(
        id=f"{source}->{target}",
        from_unit_id=source,
        from_output="out",
        to_unit_id=target,
        to_input="out",
        **{"status": "unknown", **computed},
    )


def outputs(**values: object) -> UnitOutputs:
    return UnitOutputs(values)


def test_timestamps_are_rfc3339_utc_seconds() -> None:
    """Timestamps are Go's time.RFC3339 of the UTC time: seconds, 'Z'."""
    assert rfc3339(NOW) == STAMP
    assert rfc3339(NOW.astimezone(timezone(timedelta(hours=-5)))) == STAMP
    with pytest.raises(ValueError, match="timezone-aware"):
        rfc3339(NOW.replace(tzinfo=None))


# -- rule A: source refresh ---------------------------------------------------


def test_source_refresh_records_a_new_digest_as_pending() -> None:
    """A changed output sets in_digest and last_in_at; with no out_digest the edge is pending."""
    assert refresh_source(edge(), outputs(out="v1"), STAMP) == edge(
        in_digest=D1, last_in_at=STAMP, status="pending"
    )


def test_source_refresh_to_the_consumed_value_is_ok() -> None:
    """When the new digest equals out_digest the edge is ok."""
    before = edge(in_digest=D2, out_digest=D1, status="pending", last_in_at=EARLIER)
    assert refresh_source(before, outputs(out="v1"), STAMP) == attrs.evolve(
        before, in_digest=D1, last_in_at=STAMP, status="ok"
    )


def test_source_refresh_with_an_unchanged_digest_only_recomputes_status() -> None:
    """An unchanged digest keeps in_digest and last_in_at; the status is
    recomputed against out_digest."""
    before = edge(in_digest=D1, out_digest=D2, status="unknown", last_in_at=EARLIER)
    assert refresh_source(before, outputs(out="v1"), STAMP) == attrs.evolve(
        before, status="pending"
    )
    consumed = attrs.evolve(before, out_digest=D1)
    assert refresh_source(consumed, outputs(out="v1"), STAMP) == attrs.evolve(consumed, status="ok")


@pytest.mark.parametrize("written", [outputs(other="v1"), UNREADABLE])
def test_source_refresh_without_the_output_is_unknown(written: UnitOutputs) -> None:
    """A missing output, or unreadable outputs, make the edge unknown and keep its digests."""
    before = edge(in_digest=D1, out_digest=D1, status="ok", last_in_at=EARLIER)
    assert refresh_source(before, written, STAMP) == attrs.evolve(before, status="unknown")


# -- rule B: target acknowledge -----------------------------------------------


def test_target_acknowledge_copies_in_to_out() -> None:
    """A target write copies in_digest to out_digest, stamps last_out_at, and is ok."""
    before = edge(in_digest=D2, out_digest=D1, status="pending", last_out_at=EARLIER)
    assert acknowledge_target(before, STAMP) == attrs.evolve(
        before, out_digest=D2, last_out_at=STAMP, status="ok"
    )


def test_target_acknowledge_of_a_consumed_digest_forces_ok() -> None:
    """With out_digest already equal, the status is forced to ok and nothing else changes."""
    before = edge(in_digest=D1, out_digest=D1, status="unknown", last_out_at=EARLIER)
    assert acknowledge_target(before, STAMP) == attrs.evolve(before, status="ok")


def test_target_acknowledge_needs_an_in_digest() -> None:
    """Without an in_digest, a target write changes nothing (the edge stays unknown)."""
    before = edge(status="unknown")
    assert acknowledge_target(before, STAMP) == before


# -- one write, many writes ---------------------------------------------------


def test_a_write_touches_only_edges_from_or_to_the_unit() -> None:
    """Edges from the unit are refreshed, edges to it acknowledged, others left alone."""
    edges = [
        edge("a", "b"),
        edge("c", "a", in_digest=D2, status="pending"),
        edge("c", "d", in_digest=D2, status="pending"),
    ]
    changed = apply_write(edges, "a", outputs(out="v1"), NOW)
    assert changed == {
        0: edge("a", "b", in_digest=D1, last_in_at=STAMP, status="pending"),
        1: edge("c", "a", in_digest=D2, out_digest=D2, last_out_at=STAMP, status="ok"),
    }


def test_the_written_unit_id_is_normalised() -> None:
    """A write to 'a/terraform.tfstate' (an S3-style key) counts for edges of 'a'."""
    changed = apply_write([edge("a", "b")], "/a/terraform.tfstate", outputs(out="v1"), NOW)
    assert list(changed) == [0]


def test_a_self_edge_is_refreshed_then_acknowledged() -> None:
    """An edge from a unit to itself is refreshed, then acknowledged: ok."""
    changed = apply_write([edge("a", "a")], "a", outputs(out="v1"), NOW)
    assert changed[0].status == "ok"
    assert changed[0].out_digest == changed[0].in_digest == D1


def test_a_write_that_changes_nothing_reports_nothing() -> None:
    """Applying the same write twice changes nothing the second time."""
    edges = [edge("a", "b")]
    first = apply_write(edges, "a", outputs(out="v1"), NOW)
    assert apply_write([first[0]], "a", outputs(out="v1"), NOW + timedelta(hours=1)) == {}


def test_writes_apply_in_commit_order() -> None:
    """Source then target leaves the edge ok; target then source leaves it pending."""
    start = [edge("a", "b", in_digest=D1, out_digest=D1, status="ok")]
    source = UnitWrite("a", outputs(out="v2"), NOW)
    target = UnitWrite("b", outputs(), NOW + timedelta(seconds=1))
    assert apply_writes(start, [source, target])[0].status == "ok"
    assert apply_writes(start, [target, source])[0].status == "pending"


def test_a_batch_equals_its_writes_one_by_one() -> None:
    """Folding writes in one batch gives the edges applying them one at a time gives."""
    edges = [edge("a", "b"), edge("b", "c"), edge("a", "c")]
    writes = [
        UnitWrite("a", outputs(out="v1"), NOW),
        UnitWrite("b", outputs(out="v2"), NOW + timedelta(seconds=1)),
        UnitWrite("c", outputs(), NOW + timedelta(seconds=2)),
        UnitWrite("a", outputs(out="v2"), NOW + timedelta(seconds=3)),
    ]
    one_by_one = list(edges)
    for write in writes:
        for index, new in apply_writes(one_by_one, [write]).items():
            one_by_one[index] = new
    batch = list(edges)
    for index, new in apply_writes(edges, writes).items():
        batch[index] = new
    assert batch == one_by_one


# -- reading outputs ----------------------------------------------------------


def test_outputs_are_read_with_go_numbers() -> None:
    """Output values decode as Go decodes them, so 1 and 1.0 digest alike."""
    assert read_outputs(unit_state(n=1)).digest("n") == value_digest(1.0)
    assert read_outputs(b'{"outputs": {"n": {"value": 1.0}}}').digest("n") == value_digest(1)


def test_a_null_output_value_has_a_digest() -> None:
    """An output whose value is null exists (its digest is that of null)."""
    assert read_outputs(unit_state(x=None)).digest("x") == value_digest(None)


@pytest.mark.parametrize(
    "data",
    [b"", b"nope", b"[]", b'{"outputs": null}', b'{"outputs": [1]}', b'{"version": 4}'],
)
def test_outputs_that_cannot_be_read(data: bytes) -> None:
    """Bytes that are not a state with an outputs object have unreadable outputs."""
    assert read_outputs(data).values is None
    assert read_outputs(data).digest("x") is None


def test_output_entries_without_a_value_are_missing() -> None:
    """An output entry that is not an object with a value counts as missing."""
    read = read_outputs(json.dumps({"outputs": {"a": 5, "b": {"type": "string"}}}).encode())
    assert read.values == {}


# -- seeding fresh edges --------------------------------------------------------


def test_fresh_edge_between_existing_units_is_ok() -> None:
    """Both ends have states: the target counts as having consumed the output."""
    assert seed_edge(edge(), outputs(out="v1"), True, STAMP) == edge(
        in_digest=D1, out_digest=D1, last_in_at=STAMP, last_out_at=STAMP, status="ok"
    )


def test_fresh_edge_to_a_unit_without_state_is_pending() -> None:
    """The target has no state yet: it has consumed nothing, so the edge is pending."""
    assert seed_edge(edge(), outputs(out="v1"), False, STAMP) == edge(
        in_digest=D1, last_in_at=STAMP, status="pending"
    )


@pytest.mark.parametrize("source", [None, outputs(other="x"), UNREADABLE])
def test_fresh_edge_without_a_source_value_is_unknown(source: UnitOutputs | None) -> None:
    """No source state, no such output or unreadable outputs: unknown, no digests."""
    carried = edge(in_digest=D2, out_digest=D2, status="ok")
    assert seed_edge(carried, source, True, STAMP) == edge(status="unknown")


def test_freshness() -> None:
    """An edge is fresh when its ID is new or it never had a digest."""
    seen = edge(in_digest=D1)
    assert is_fresh(seen, known_ids=())
    assert not is_fresh(seen, known_ids={seen.id})
    assert is_fresh(edge(), known_ids={edge().id})


def test_seeding_reads_only_the_ends_of_fresh_edges() -> None:
    """units_to_seed names both ends of every fresh edge and nothing else;
    seed_edges fills in exactly those edges."""
    old = edge("a", "b", in_digest=D1, out_digest=D1, status="ok")
    new = edge("c", "d")
    edges = [old, new]
    assert units_to_seed(edges, known_ids={old.id}) == {"c", "d"}
    states = {"a": outputs(out="v2"), "c": outputs(out="v1"), "d": outputs()}
    assert seed_edges(edges, states, NOW, known_ids={old.id}) == {
        1: edge("c", "d", in_digest=D1, out_digest=D1, last_in_at=STAMP, last_out_at=STAMP,
                status="ok")
    }  # fmt: skip


def test_seeding_is_idempotent() -> None:
    """Seeding already seeded edges changes nothing."""
    edges = [edge("a", "b"), edge("b", "c"), edge("x", "a")]
    states = {"a": outputs(out="v1"), "b": outputs(out="v2")}
    seeded = list(edges)
    for index, new in seed_edges(edges, states, NOW).items():
        seeded[index] = new
    assert [e.status for e in seeded] == ["ok", "pending", "unknown"]
    later = NOW + timedelta(days=1)
    assert seed_edges(seeded, states, later, known_ids={e.id for e in edges}) == {}


def test_queued_writes_apply_before_seeding() -> None:
    """A source write queued while the graph was locked marks a known edge
    pending even when the graph write that ends the lock also seeds: writes
    first, then seeding (which then leaves the digested edge alone)."""
    known = edge("b", "a")
    queued = [UnitWrite("b", outputs(out="v1"), NOW)]
    seeding = GraphWrite({"a": outputs(), "b": outputs(out="v1")}, {known.id}, NOW)
    changed = apply_updates([known], queued, seeding)
    assert changed[0].status == "pending"
    assert changed[0].out_digest == ""


def test_seeding_after_writes_still_fills_new_edges() -> None:
    """Edges new to the graph are seeded after the queued writes, from the
    current states."""
    new = edge("b", "a", in_digest=D2, out_digest=D2, status="ok")  # re-pointed: carried over
    queued = [UnitWrite("b", outputs(out="v1"), NOW)]
    seeding = GraphWrite({"a": outputs(), "b": outputs(out="v1")}, set(), NOW)
    changed = apply_updates([new], queued, seeding)
    assert changed[0] == attrs.evolve(
        new, in_digest=D1, out_digest=D1, last_in_at=STAMP, last_out_at=STAMP, status="ok"
    )
