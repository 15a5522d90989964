"""Hypothesis state machine: lock, history and retention invariants of the
core service, run over every adapter.

Over the memory fake, SQLite and S3, so the rules hold the same way in every
store: one lock holder; only the holder writes and unlocks; forced unlock
clears; a forced write passes the clobber guard and only it; history is
append-only (numbers are never reused, a version never changes, a pruned
version never comes back); retention keeps exactly the newest versions and
the newest quarantined ones within their budget and grace period; the current serial never goes
back unless forced; every kept acknowledged write reads back; restore yields
a state Terraform accepts (a serial above every kept one, the same content); a locked unit cannot
be deleted, and a deleted unit comes back as it was.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from taco_adapters.clock import ManualClock
from taco_adapters.memory import MemoryStateStore
from taco_adapters.s3 import S3StateStore
from taco_adapters.sqlite import SqliteStateStore
from taco_core.auth import Principal, PrincipalKind
from taco_core.caller import Caller
from taco_core.errors import LockConflict, StateRejected, UnitNotFound
from taco_core.model import LockInfo, RetentionPolicy, Surface
from taco_core.ports import StateStore
from taco_core.service import Policy, StateService
from taco_core.unit_id import UnitId
from tests.s3_server import S3Server

U = UnitId("m/u")
LOCK_IDS = st.sampled_from(["a", "b", "c"])
# Small, so that pruning happens within a few writes.
MAX_VERSIONS = 3
MAX_QUARANTINED = 2

ME = Caller(Principal(subject="tester", kind=PrincipalKind.USER), Surface.API)


def state(serial: int, lineage: str, salt: int) -> bytes:
    return json.dumps({"version": 4, "serial": serial, "lineage": lineage, "salt": salt}).encode()


def examples(n: int) -> int:
    """``n`` examples under the ``ci`` profile, fewer under ``dev`` (tests/conftest.py)."""
    return max(3, n * settings().max_examples // 100)


class ServiceMachine(RuleBasedStateMachine):
    """Drives StateService and compares it with a tiny model."""

    def make_store(self) -> StateStore:
        return MemoryStateStore()

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.store = self.make_store()
        retention = RetentionPolicy(max_versions=MAX_VERSIONS, max_quarantined=MAX_QUARANTINED)
        self.svc = StateService(self.store, ManualClock(), Policy(retention=retention))
        self.run(self.svc.create_unit(ME, "m/u"))
        self.holder: str | None = None
        self.head: tuple[int, str, bytes] | None = None  # serial, lineage, bytes
        self.acked: dict[int, bytes] = {}  # version number -> bytes of accepted writes
        self.quarantined: dict[int, bytes] = {}  # version number -> refused bytes
        self.seen_meta: dict[int, Any] = {}
        self.pruned: set[int] = set()
        self.deleted = False

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.store.aclose())
        self.loop.close()

    def kept(self) -> list[int]:
        """The accepted versions retention keeps: the newest MAX_VERSIONS."""
        return sorted(self.acked)[-MAX_VERSIONS:]

    def kept_quarantined(self) -> list[int]:
        """The refused writes retention keeps: the newest MAX_QUARANTINED."""
        return sorted(self.quarantined)[-MAX_QUARANTINED:]

    @rule(lock_id=LOCK_IDS)
    def lock(self, lock_id: str) -> None:
        try:
            held = self.run(self.svc.lock(ME, U, LockInfo(id=lock_id, who=lock_id)))
        except UnitNotFound:
            assert self.deleted
            return
        except LockConflict as exc:
            assert self.holder is not None and self.holder != lock_id
            assert exc.holder.id == self.holder
            return
        assert not self.deleted
        assert self.holder in (None, lock_id)
        assert held.id == lock_id
        self.holder = lock_id

    @rule(lock_id=st.one_of(st.none(), LOCK_IDS))
    def unlock(self, lock_id: str | None) -> None:
        try:
            self.run(self.svc.unlock(ME, U, lock_id))
        except UnitNotFound:
            assert self.deleted
            return
        except LockConflict:
            assert self.holder is not None and lock_id is not None and lock_id != self.holder
            return
        assert not self.deleted
        assert self.holder is None or lock_id in (None, self.holder)
        self.holder = None

    @rule(
        delta=st.integers(-1, 2),
        other_lineage=st.booleans(),
        salt=st.integers(0, 3),
        lock_id=st.one_of(st.none(), LOCK_IDS),
        force=st.booleans(),
    )
    def write(
        self, delta: int, other_lineage: bool, salt: int, lock_id: str | None, force: bool
    ) -> None:
        serial = max(0, (self.head[0] if self.head else 0) + delta)
        lineage = "OTHER" if other_lineage else "L"
        data = state(serial, lineage, salt)
        try:
            result = self.run(self.svc.upload(ME, U, data, lock_id=lock_id, force=force))
        except UnitNotFound:
            assert self.deleted
            return
        except LockConflict:
            assert self.holder is not None and lock_id != self.holder
            return
        except StateRejected as exc:
            assert self.head is not None and not force
            assert exc.quarantined is not None
            version, kept = self.run(self.svc.read_version(ME, U, exc.quarantined))
            assert version.quarantined and kept == data
            self.quarantined[exc.quarantined] = data
            return
        assert not self.deleted
        assert self.holder is None or lock_id == self.holder
        if self.head is not None:
            cur_serial, cur_lineage, cur_bytes = self.head
            if cur_bytes != data:
                assert force or (lineage == cur_lineage and serial > cur_serial)
        if result.changed:
            assert result.version.number not in self.seen_meta
            self.acked[result.version.number] = data
        self.head = (serial, lineage, data)

    @precondition(lambda self: not self.deleted and len(self.acked) > 0)
    @rule(pick=st.integers(0, 1000))
    def restore(self, pick: int) -> None:
        numbers = self.kept()
        number = numbers[pick % len(numbers)]
        serials = [v.serial for v in self.run(self.svc.list_versions(ME, U))]
        try:
            version = self.run(self.svc.restore(ME, U, number, lock_id=self.holder))
        except LockConflict:  # pragma: no cover - we always pass the holder
            raise AssertionError("restore with the holder's ID must not conflict") from None
        _, data = self.run(self.svc.download(ME, U))
        doc = json.loads(data)
        old = json.loads(self.acked[number])
        assert doc == {**old, "serial": doc["serial"]}
        assert self.head is not None
        assert doc["serial"] > max(self.head[0], *serials)
        self.acked[version.number] = data
        self.head = (doc["serial"], doc["lineage"], data)

    @precondition(lambda self: not self.deleted)
    @rule()
    def delete(self) -> None:
        try:
            self.run(self.svc.delete_unit(ME, U))
        except LockConflict as exc:
            assert self.holder is not None and exc.holder.id == self.holder
            return
        assert self.holder is None
        self.deleted = True

    @precondition(lambda self: self.deleted)
    @rule()
    def undelete(self) -> None:
        unit = self.run(self.svc.undelete_unit(ME, U))
        assert unit.lock is None
        assert unit.head == (max(self.acked) if self.acked else None)
        self.deleted = False

    @invariant()
    def one_holder_matches_model(self) -> None:
        if self.deleted:
            with pytest.raises(UnitNotFound):
                self.run(self.svc.get_unit(ME, U))
            return
        unit = self.run(self.svc.get_unit(ME, U))
        assert (unit.lock.id if unit.lock else None) == self.holder

    @invariant()
    def history_is_append_only_and_retention_keeps_the_newest(self) -> None:
        if self.deleted:
            return
        versions = self.run(self.svc.list_versions(ME, U))
        numbers = [v.number for v in versions]
        assert numbers == sorted(numbers, reverse=True)
        assert not self.pruned & set(numbers), "a pruned version came back"
        for v in versions:
            if v.number in self.seen_meta:
                assert self.seen_meta[v.number] == v
            self.seen_meta[v.number] = v
        self.pruned |= set(self.seen_meta) - set(numbers)
        assert [n for n in numbers if n not in self.quarantined] == self.kept()[::-1]
        # The quarantine grace period never ends here: the budget alone prunes them.
        assert [n for n in numbers if n in self.quarantined] == self.kept_quarantined()[::-1]

    @invariant()
    def kept_writes_read_back_and_head_is_current(self) -> None:
        if self.deleted:
            return
        for number in self.kept():
            assert self.run(self.svc.read_version(ME, U, number))[1] == self.acked[number]
        for number in self.kept_quarantined():
            assert self.run(self.svc.read_version(ME, U, number))[1] == self.quarantined[number]
        found = self.run(self.svc.download(ME, U))
        if self.head is None:
            assert found is None
        else:
            assert found[1] == self.head[2]


class SqliteServiceMachine(ServiceMachine):
    def make_store(self) -> StateStore:
        self.tmp = tempfile.TemporaryDirectory()
        store: StateStore = self.run(SqliteStateStore.open(Path(self.tmp.name) / "t.db"))
        return store

    def teardown(self) -> None:
        super().teardown()
        self.tmp.cleanup()


class S3ServiceMachine(ServiceMachine):
    """On the session's SeaweedFS, under a fresh key prefix for every example
    (in one bucket: every SeaweedFS bucket takes volumes of its own)."""

    server: S3Server
    bucket: str

    def make_store(self) -> StateStore:
        store: StateStore = self.run(
            S3StateStore.open(
                self.bucket,
                prefix=f"example-{uuid.uuid4().hex}",
                region=self.server.region,
                endpoint_url=self.server.endpoint_url,
                session=self.server.session(),
            )
        )
        return store


TestMemoryService = ServiceMachine.TestCase
TestMemoryService.settings = settings(
    max_examples=examples(60), stateful_step_count=30, deadline=None
)
TestSqliteService = SqliteServiceMachine.TestCase
TestSqliteService.settings = settings(
    max_examples=examples(25), stateful_step_count=25, deadline=None
)


@pytest.mark.slow
def test_the_service_rules_hold_on_s3(s3_server: S3Server) -> None:
    """The same machine on S3 (a real SeaweedFS): locks as objects, the head
    moved by compare-and-swap, pruning, soft delete and undelete."""

    class OnThisServer(S3ServiceMachine):
        server = s3_server
        bucket = s3_server.new_bucket()

    run_state_machine_as_test(
        OnThisServer,
        settings=settings(
            max_examples=examples(10),
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
