"""The clobber guard's decisions."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from taco_core.guard import Outcome, judge
from taco_core.model import StateFacts, StateVersion
from taco_core.unit_id import UnitId


def current(serial: int | None = 5, lineage: str | None = "L", sha: str = "aaa") -> StateVersion:
    return StateVersion(
        unit_id=UnitId("u"), number=1, serial=serial, lineage=lineage, size=1,
        sha256=sha, md5="m", created=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip


def facts(serial: int | None = 6, lineage: str | None = "L", sha: str = "bbb") -> StateFacts:
    return StateFacts(serial=serial, lineage=lineage, size=1, sha256=sha, md5="m")


def test_first_write_is_accepted() -> None:
    """With no current state anything is accepted."""
    assert judge(None, facts(lineage="X", serial=0)).outcome is Outcome.ACCEPT


def test_newer_serial_same_lineage_is_accepted() -> None:
    """The normal Terraform write: same lineage, higher serial."""
    assert judge(current(), facts()).outcome is Outcome.ACCEPT


def test_other_lineage_is_refused_naming_both() -> None:
    """Another configuration's state is refused, naming both lineages."""
    verdict = judge(current(), facts(lineage="OTHER"))
    assert verdict.outcome is Outcome.REFUSE
    assert "'OTHER'" in verdict.reason
    assert "'L'" in verdict.reason


def test_older_serial_is_refused() -> None:
    """A serial lower than the current one is refused."""
    verdict = judge(current(serial=5), facts(serial=4))
    assert verdict.outcome is Outcome.REFUSE
    assert "older" in verdict.reason


def test_same_serial_different_bytes_is_refused() -> None:
    """Same serial with other content is a divergent write: refused."""
    verdict = judge(current(serial=5), facts(serial=5))
    assert verdict.outcome is Outcome.REFUSE
    assert "equals" in verdict.reason


def test_identical_bytes_are_idempotent() -> None:
    """A retried identical write succeeds without a new version."""
    assert judge(current(sha="same"), facts(serial=5, sha="same")).outcome is Outcome.IDEMPOTENT


def test_force_bypasses_every_refusal() -> None:
    """Force accepts other lineages and older serials."""
    assert judge(current(), facts(lineage="X", serial=0), force=True).outcome is Outcome.ACCEPT


def test_current_without_lineage_accepts_anything() -> None:
    """A hand-made or empty current state cannot anchor the guard."""
    assert judge(current(lineage=None), facts(serial=0)).outcome is Outcome.ACCEPT


SERIALS = st.one_of(st.none(), st.integers(0, 5))
LINEAGES = st.one_of(st.none(), st.sampled_from(["L", "M"]))
SHAS = st.sampled_from(["aaa", "bbb"])


@given(SERIALS, LINEAGES, SHAS, SERIALS, LINEAGES, SHAS, st.booleans())
def test_the_guard_never_lets_a_state_go_back(
    cur_serial: int | None,
    cur_lineage: str | None,
    cur_sha: str,
    new_serial: int | None,
    new_lineage: str | None,
    new_sha: str,
    force: bool,
) -> None:
    """For any current state and any write: identical bytes are idempotent; a
    forced write or one over a lineage-less state is accepted; otherwise a write
    is accepted exactly when it keeps the lineage (or names none) and does not
    take the serial back or repeat it; every refusal says why."""
    verdict = judge(
        current(cur_serial, cur_lineage, cur_sha),
        facts(new_serial, new_lineage, new_sha),
        force=force,
    )
    if cur_sha == new_sha:
        assert verdict.outcome is Outcome.IDEMPOTENT
        return
    if force or cur_lineage is None:
        assert verdict.outcome is Outcome.ACCEPT
        return
    foreign = new_lineage is not None and new_lineage != cur_lineage
    back = cur_serial is not None and new_serial is not None and new_serial <= cur_serial
    assert (verdict.outcome is Outcome.ACCEPT) == (not foreign and not back)
    assert (verdict.outcome is Outcome.REFUSE) == bool(verdict.reason)
