"""The clobber guard's decisions."""

from __future__ import annotations

from datetime import UTC, datetime

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
