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
    ``force`` accepts everything else. A state without the ``lineage`` or the
    ``serial`` the current state has is refused: it may start a unit, never
    replace a Terraform state (``{}`` would otherwise slip past every check,
    and the owner's next write would be the one refused). A current state
    without a lineage (empty, or hand-made) accepts anything else.
    """
    if current is None:
        return ACCEPT
    if current.sha256 == new.sha256:
        return Verdict(Outcome.IDEMPOTENT)
    if force:
        return ACCEPT
    missing = [
        name
        for name, had, has in (
            ("lineage", current.lineage, new.lineage),
            ("serial", current.serial, new.serial),
        )
        if had is not None and has is None
    ]
    if missing:
        return Verdict(
            Outcome.REFUSE,
            f"the state has no {' and no '.join(repr(m) for m in missing)}, which the current "
            "state has: it would replace a Terraform state with something that is not one "
            "(is it a Terraform state?)",
        )
    if current.lineage is None:
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
