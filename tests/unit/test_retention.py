"""Which versions retention prunes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from taco_core.model import RetentionPolicy, StateVersion
from taco_core.retention import prunable
from taco_core.unit_id import UnitId

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def v(number: int, quarantined: bool = False, age_s: float = 0) -> StateVersion:
    return StateVersion(
        unit_id=UnitId("u"), number=number, serial=number, lineage="L", size=1, sha256="s",
        md5="m", created=T0 - timedelta(seconds=age_s), quarantined=quarantined,
    )  # fmt: skip


def test_keeps_newest_n() -> None:
    """With max 3 of 5, versions 1 and 2 go."""
    versions = [v(n) for n in range(1, 6)]
    assert prunable(versions, 5, RetentionPolicy(max_versions=3), T0) == [1, 2]


def test_head_is_kept_even_when_old() -> None:
    """A restored-away head that is not the newest is never pruned."""
    versions = [v(n) for n in range(1, 6)]
    assert 1 not in prunable(versions, 1, RetentionPolicy(max_versions=1), T0)


def test_quarantine_grace() -> None:
    """Young quarantined versions stay; expired ones go."""
    policy = RetentionPolicy(max_versions=10, quarantine_grace_seconds=100)
    versions = [v(1), v(2, quarantined=True, age_s=50), v(3, quarantined=True, age_s=500)]
    assert prunable(versions, 1, policy, T0) == [3]


def test_quarantined_versions_count_against_their_budget() -> None:
    """Within the grace, only the newest max_quarantined refusals stay; the oldest go first."""
    policy = RetentionPolicy(max_versions=10, max_quarantined=2)
    versions = [v(1), *(v(n, quarantined=True) for n in range(2, 7))]
    assert prunable(versions, 1, policy, T0) == [2, 3, 4]


@given(
    st.lists(st.tuples(st.booleans(), st.floats(0, 1000)), min_size=1, max_size=30),
    st.integers(1, 10),
    st.integers(1, 5),
    st.data(),
)
def test_never_prunes_head_or_the_newest_young_quarantine(
    specs: list[tuple[bool, float]], max_versions: int, max_quarantined: int, data: st.DataObject
) -> None:
    """Property: the head always survives; of the quarantined versions within
    grace exactly the newest max_quarantined survive, and none older than grace."""
    versions = [v(i + 1, q, age) for i, (q, age) in enumerate(specs)]
    live = [x.number for x in versions if not x.quarantined]
    head = data.draw(st.sampled_from(live)) if live else None
    policy = RetentionPolicy(
        max_versions=max_versions, quarantine_grace_seconds=500, max_quarantined=max_quarantined
    )
    doomed = set(prunable(versions, head, policy, T0))
    assert head not in doomed
    young = sorted(
        (x.number for x in versions if x.quarantined and T0 - x.created <= timedelta(seconds=500)),
        reverse=True,
    )
    quarantined_kept = {x.number for x in versions if x.quarantined} - doomed
    assert quarantined_kept == set(young[:max_quarantined])
    kept_live = [n for n in live if n not in doomed]
    assert min(len(live), max_versions) <= len(kept_live) <= max_versions + 1
