"""Lock rules as pure functions.

Adapters call these *inside* their atomic section (a SQLite transaction, a
conditional S3 write, the memory store's critical section), so the rules are
written once and every store decides them the same way.
"""

from __future__ import annotations

from taco_core.errors import LockConflict
from taco_core.model import LockInfo


def check_lock(unit_id: str, holder: LockInfo | None, wanted: LockInfo) -> LockInfo:
    """Decide a lock request; return the lock that holds afterwards.

    Re-locking with the holder's own ID is idempotent (a retried request must not
    fail); any other ID while locked raises ``LockConflict`` carrying the holder.
    """
    if holder is None:
        return wanted
    if holder.id == wanted.id:
        return holder
    raise LockConflict(unit_id, holder)


def check_write(unit_id: str, holder: LockInfo | None, lock_id: str | None) -> None:
    """A write needs the holder's ID while the unit is locked.

    A write that names a lock ID while the unit is unlocked is accepted: Terraform
    sends ``?ID=`` whenever it locked, and a lock may have been force-released in
    between by an operator who meant to let it finish.
    """
    if holder is not None and lock_id != holder.id:
        raise LockConflict(unit_id, holder)


def check_unlock(unit_id: str, holder: LockInfo | None, lock_id: str | None) -> None:
    """Unlock with the holder's ID; ``lock_id=None`` is a forced unlock.

    Unlocking an unlocked unit succeeds: the caller's goal already holds.
    """
    if holder is None or lock_id is None:
        return
    if lock_id != holder.id:
        raise LockConflict(unit_id, holder)
