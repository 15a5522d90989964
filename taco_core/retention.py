"""Which versions a store may prune.

Pruning is the only way (besides purging a deleted unit) that history shrinks,
so the rule is a pure function every adapter calls: never the current version;
quarantined versions are kept for the grace period, but at most the newest
``max_quarantined`` of them (a client stuck in a loop of refused writes must
not fill the store: the oldest refusals go first); otherwise keep the newest
``max_versions`` non-quarantined versions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from taco_core.model import RetentionPolicy, StateVersion


def prunable(
    versions: Iterable[StateVersion],
    head: int | None,
    policy: RetentionPolicy,
    now: datetime,
) -> list[int]:
    """Numbers of the versions to delete, given all versions of one unit."""
    grace = timedelta(seconds=policy.quarantine_grace_seconds)
    kept = 0
    kept_quarantined = 0
    doomed: list[int] = []
    for version in sorted(versions, key=lambda v: v.number, reverse=True):
        if version.number == head:
            kept += 1
            continue
        if version.quarantined:
            if now - version.created > grace or kept_quarantined >= policy.max_quarantined:
                doomed.append(version.number)
            else:
                kept_quarantined += 1
            continue
        if kept < policy.max_versions:
            kept += 1
        else:
            doomed.append(version.number)
    return sorted(doomed)
