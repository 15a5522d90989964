"""Reading a unit's history: which version was current at a given time.

Every version that is not quarantined became the current one when it was
written, and stayed so until the next one did; quarantined versions never
were current. So the version current at a time is the newest kept,
non-quarantined version written at or before it. That is what "restore the
state as it was at 14:00" means, rather than a version written at exactly
that microsecond.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from taco_core.model import StateVersion


def current_at(versions: Iterable[StateVersion], at: datetime) -> StateVersion | None:
    """The version that was current at ``at`` (timezone-aware), among the kept
    ``versions``; ``None`` when none had been written yet (or it was pruned
    along with every older one)."""
    candidates = [v for v in versions if not v.quarantined and v.created <= at]
    return max(candidates, key=lambda v: v.number, default=None)
