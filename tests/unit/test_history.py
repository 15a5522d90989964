"""Which version was current at a given time (restore by timestamp)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from taco_core.history import current_at
from taco_core.model import StateVersion, UnitId

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def v(number: int, minute: int, quarantined: bool = False) -> StateVersion:
    return StateVersion(
        unit_id=UnitId("u"), number=number, serial=number, lineage="L", size=1, sha256="s",
        md5="m", created=T0 + timedelta(minutes=minute), quarantined=quarantined,
    )  # fmt: skip


HISTORY = [v(1, 0), v(2, 10), v(3, 20, quarantined=True), v(4, 30)]


def test_a_time_between_writes_picks_the_version_then_current() -> None:
    """At 00:15 version 2 (written 00:10) was current, not an exact-time match."""
    found = current_at(HISTORY, T0 + timedelta(minutes=15))
    assert found is not None and found.number == 2


def test_quarantined_versions_were_never_current() -> None:
    """At 00:25 the quarantined version 3 was refused; version 2 was still current."""
    found = current_at(HISTORY, T0 + timedelta(minutes=25))
    assert found is not None and found.number == 2


def test_an_exact_time_picks_that_version_and_before_the_first_none() -> None:
    """A version's own time picks it; a time before every version has none."""
    found = current_at(HISTORY, T0 + timedelta(minutes=30))
    assert found is not None and found.number == 4
    assert current_at(HISTORY, T0 - timedelta(seconds=1)) is None


@given(st.lists(st.tuples(st.integers(0, 100), st.booleans()), max_size=12), st.integers(-5, 105))
def test_the_pick_is_the_newest_non_quarantined_at_or_before(
    specs: list[tuple[int, bool]], minute: int
) -> None:
    """Property: the pick is written at or before the time, not quarantined,
    and no other such version is newer."""
    versions = [v(i + 1, m, q) for i, (m, q) in enumerate(sorted(specs))]
    at = T0 + timedelta(minutes=minute)
    found = current_at(versions, at)
    eligible = [x for x in versions if not x.quarantined and x.created <= at]
    if not eligible:
        assert found is None
    else:
        assert found is not None and found.number == max(x.number for x in eligible)
