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


def test_a_state_without_lineage_or_serial_never_replaces_one_with_them() -> None:
    """{} (or a state missing either field) over a real state is refused naming what is missing."""
    verdict = judge(current(), facts(serial=None, lineage=None))
    assert verdict.outcome is Outcome.REFUSE
    assert "'lineage'" in verdict.reason and "'serial'" in verdict.reason
    only_serial = judge(current(), facts(serial=None))
    assert only_serial.outcome is Outcome.REFUSE
    assert "'serial'" in only_serial.reason and "'lineage'" not in only_serial.reason
    assert judge(current(), facts(lineage=None)).outcome is Outcome.REFUSE


def test_a_state_without_them_may_start_a_unit() -> None:
    """With no current state, or one without lineage and serial, {} is accepted."""
    assert judge(None, facts(serial=None, lineage=None)).outcome is Outcome.ACCEPT
    blank = current(serial=None, lineage=None)
    assert judge(blank, facts(serial=None, lineage=None)).outcome is Outcome.ACCEPT


def test_force_replaces_a_state_with_one_without_them() -> None:
    """Force keeps its meaning: the operator may write {} over a real state."""
    assert judge(current(), facts(serial=None, lineage=None), force=True).outcome is Outcome.ACCEPT


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
    forced write is accepted; a write lacking the lineage or the serial the
    current state has is refused; one over a lineage-less state is accepted;
    otherwise a write is accepted exactly when it keeps the lineage and does
    not take the serial back or repeat it; every refusal says why."""
    verdict = judge(
        current(cur_serial, cur_lineage, cur_sha),
        facts(new_serial, new_lineage, new_sha),
        force=force,
    )
    assert (verdict.outcome is Outcome.REFUSE) == bool(verdict.reason)
    if cur_sha == new_sha:
        assert verdict.outcome is Outcome.IDEMPOTENT
        return
    if force:
        assert verdict.outcome is Outcome.ACCEPT
        return
    lacking = (cur_lineage is not None and new_lineage is None) or (
        cur_serial is not None and new_serial is None
    )
    if lacking:
        assert verdict.outcome is Outcome.REFUSE
        return
    if cur_lineage is None:
        assert verdict.outcome is Outcome.ACCEPT
        return
    foreign = new_lineage != cur_lineage
    back = cur_serial is not None and new_serial is not None and new_serial <= cur_serial
    assert (verdict.outcome is Outcome.ACCEPT) == (not foreign and not back)
    assert (verdict.outcome is Outcome.REFUSE) == bool(verdict.reason)
