"""The clobber guard: which writes may replace the current state.

Terraform's own client refuses to push a state of another lineage or an older
serial, but nothing stops a misconfigured backend block, a copied directory or
a script from doing it over HTTP. The service enforces the same rules so a
mistake cannot overwrite a good state; the refused payload is kept in
quarantine by the caller, never dropped.
"""

from __future__ import annotations

from enum import Enum

from attrs import frozen

from taco_core.model import StateFacts, StateVersion


class Outcome(Enum):
    ACCEPT = "accept"
    IDEMPOTENT = "idempotent"
    REFUSE = "refuse"


@frozen
class Verdict:
    outcome: Outcome
    reason: str = ""


ACCEPT = Verdict(Outcome.ACCEPT)


def judge(current: StateVersion | None, new: StateFacts, *, force: bool = False) -> Verdict:
    """Decide whether ``new`` may become the current state over ``current``.

    Identical bytes are always an idempotent success (Terraform retries writes).
    A current state without a lineage (empty, or hand-made) accepts anything.
    ``force`` accepts everything else.
    """
    if current is None:
        return ACCEPT
    if current.sha256 == new.sha256:
        return Verdict(Outcome.IDEMPOTENT)
    if force or current.lineage is None:
        return ACCEPT
    if new.lineage is not None and new.lineage != current.lineage:
        return Verdict(
            Outcome.REFUSE,
            f"lineage {new.lineage!r} differs from the current state's lineage "
            f"{current.lineage!r} (is this the state of another configuration?)",
        )
    if current.serial is not None and new.serial is not None:
        if new.serial < current.serial:
            return Verdict(
                Outcome.REFUSE,
                f"serial {new.serial} is older than the current serial {current.serial}",
            )
        if new.serial == current.serial:
            return Verdict(
                Outcome.REFUSE,
                f"serial {new.serial} equals the current serial but the content differs",
            )
    return ACCEPT
