"""Unit locks as S3 objects: Terraform's own ``.tflock``, shared with it.

A lock is one object, ``terraform.tfstate.tflock``, created with
``If-None-Match: *``: S3 lets exactly one creator win, across every replica
and Terraform's own ``backend "s3"`` (``use_lockfile``), which writes the same
object with the same body (Terraform's capitalised LockInfo). The Go
reference's ``terraform.tfstate.lock`` also counts as held. A release deletes
with ``If-Match`` on the ETag it checked, so a lock released and re-taken in
between stays with its new holder.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from attrs import frozen

from taco_adapters.s3.bucket import PreconditionFailed, S3Bucket, both
from taco_adapters.s3.layout import LEGACY_LOCK, TFLOCK, Layout
from taco_adapters.wire import held_lock_from_json, terraform_lock_json
from taco_core import locks
from taco_core.errors import StorageUnavailable
from taco_core.model import LockInfo


def lock_body(lock: LockInfo) -> bytes:
    """Terraform's LockInfo JSON (capitalised keys), so Terraform's own s3
    backend can read our lock and report its holder, plus our ``Owner``."""
    return json.dumps(terraform_lock_json(lock, with_owner=True)).encode()


def lock_of(data: bytes) -> LockInfo:
    """Read a lock object, whatever wrote it: Terraform (``ID``, ``Who`` ...) or
    the Go reference (``id``, ``who`` ...). An unreadable one still counts as
    held, so we never write over a lock we cannot understand."""
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return LockInfo(
            id="", who="unknown", info="unreadable lock object; remove it with a forced unlock"
        )
    return held_lock_from_json(doc)


@frozen
class Held:
    """A lock object as read: the lock, and the ETag a release must name."""

    lock: LockInfo
    etag: str


class LockObjects:
    """The lock objects of the units under one ``Layout``."""

    def __init__(self, bucket: S3Bucket, layout: Layout, *, attempts: int) -> None:
        self._s3 = bucket
        self._layout = layout
        self._attempts = attempts

    async def read(self, key: str) -> Held | None:
        obj = await self._s3.get(key)
        if obj is None:
            return None
        return Held(lock_of(obj.body or b""), obj.etag)

    async def pair(self, unit_id: str) -> tuple[Held | None, Held | None]:
        """Terraform's ``.tflock`` and the Go reference's ``.lock``."""
        return await both(
            self.read(self._layout.key(unit_id, TFLOCK)),
            self.read(self._layout.key(unit_id, LEGACY_LOCK)),
        )

    async def holder(self, unit_id: str) -> LockInfo | None:
        """Who holds the unit's lock (``.tflock`` first, then ``.lock``)."""
        return _released(await self.pair(unit_id))

    async def acquire(
        self, unit_id: str, wanted: LockInfo, *, unit: Callable[[], Awaitable[object]]
    ) -> LockInfo:
        """Create ``.tflock`` with ``If-None-Match: *``. A lock already there is
        decided without writing (``locks.check_lock``), which spares the bucket
        a contended conditional write while Terraform polls
        (``-lock-timeout``). ``unit`` reads the unit, alongside, so a missing
        one is ``UnitNotFound``."""
        key = self._layout.key(unit_id, TFLOCK)
        for _ in range(self._attempts):
            _, held = await both(unit(), self.pair(unit_id))
            present = [found.lock for found in held if found is not None]
            if present:
                for holder in present:
                    locks.check_lock(unit_id, holder, wanted)
                return present[0]
            try:
                await self._s3.put(key, lock_body(wanted), if_absent=True)
                return wanted
            except PreconditionFailed:
                winner = await self.read(key)
                if winner is None:
                    continue  # released between our write and our read: try again
                return locks.check_lock(unit_id, winner.lock, wanted)
        raise StorageUnavailable(f"the lock of unit {unit_id!r} kept changing; try again")

    async def release(self, unit_id: str, lock_id: str | None) -> LockInfo | None:
        """Check the holder's ID (``locks.check_unlock``), then delete with
        ``If-Match`` on the ETag checked. ``None`` forces: both names go.
        Returns the lock released (``.tflock``'s first), ``None`` if none was."""
        keys = (self._layout.key(unit_id, TFLOCK), self._layout.key(unit_id, LEGACY_LOCK))
        if lock_id is None:
            held = await self.pair(unit_id)
            for key in keys:
                await self._s3.delete(key)
            return _released(held)
        for _ in range(self._attempts):
            held = await self.pair(unit_id)
            for found in held:
                if found is not None:
                    locks.check_unlock(unit_id, found.lock, lock_id)
            try:
                for key, found in zip(keys, held, strict=True):
                    if found is not None:
                        await self._s3.delete(key, if_match=found.etag)
            except PreconditionFailed:
                continue
            return _released(held)
        raise StorageUnavailable(f"the lock of unit {unit_id!r} kept changing; try again")


def _released(pair: tuple[Held | None, Held | None]) -> LockInfo | None:
    """The lock a pair of lock objects stands for (``.tflock`` first)."""
    tflock, legacy = pair
    held = tflock or legacy
    return held.lock if held else None
