"""Hypothesis state machine: lock and history invariants of the core service.

Run over the memory fake and over SQLite, so the rules hold the same way in
every adapter: one lock holder; only the holder writes and unlocks; forced
unlock clears; history is append-only; the current serial never goes back;
every acknowledged write is in history; restore yields a state Terraform
accepts (higher serial, same lineage).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from taco_adapters.clock import ManualClock
from taco_adapters.memory import MemoryStateStore
from taco_adapters.sqlite import SqliteStateStore
from taco_core.errors import LockConflict, StateRejected
from taco_core.model import LockInfo, RetentionPolicy
from taco_core.ports import StateStore
from taco_core.service import Policy, StateService
from taco_core.unit_id import UnitId

U = UnitId("m/u")
LOCK_IDS = st.sampled_from(["a", "b", "c"])


def state(serial: int, lineage: str, salt: int) -> bytes:
    return json.dumps({"version": 4, "serial": serial, "lineage": lineage, "salt": salt}).encode()


class ServiceMachine(RuleBasedStateMachine):
    """Drives StateService and compares it with a tiny model."""

    def make_store(self) -> StateStore:
        return MemoryStateStore()

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.store = self.make_store()
        self.svc = StateService(
            self.store, ManualClock(), Policy(retention=RetentionPolicy(max_versions=10_000))
        )
        self.run(self.svc.create_unit("m/u"))
        self.holder: str | None = None
        self.head: tuple[int, str, bytes] | None = None  # serial, lineage, bytes
        self.acked: dict[int, bytes] = {}  # version number -> bytes
        self.seen_meta: dict[int, Any] = {}

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.store.aclose())
        self.loop.close()

    @rule(lock_id=LOCK_IDS)
    def lock(self, lock_id: str) -> None:
        try:
            held = self.run(self.svc.lock(U, LockInfo(id=lock_id, who=lock_id)))
        except LockConflict as exc:
            assert self.holder is not None and self.holder != lock_id
            assert exc.holder.id == self.holder
            return
        assert self.holder in (None, lock_id)
        assert held.id == lock_id
        self.holder = lock_id

    @rule(lock_id=st.one_of(st.none(), LOCK_IDS))
    def unlock(self, lock_id: str | None) -> None:
        try:
            self.run(self.svc.unlock(U, lock_id))
        except LockConflict:
            assert self.holder is not None and lock_id is not None and lock_id != self.holder
            return
        assert self.holder is None or lock_id in (None, self.holder)
        self.holder = None

    @rule(
        delta=st.integers(-1, 2),
        other_lineage=st.booleans(),
        salt=st.integers(0, 3),
        lock_id=st.one_of(st.none(), LOCK_IDS),
    )
    def write(self, delta: int, other_lineage: bool, salt: int, lock_id: str | None) -> None:
        serial = max(0, (self.head[0] if self.head else 0) + delta)
        lineage = "OTHER" if other_lineage else "L"
        data = state(serial, lineage, salt)
        try:
            result = self.run(self.svc.upload(U, data, lock_id=lock_id))
        except LockConflict:
            assert self.holder is not None and lock_id != self.holder
            return
        except StateRejected as exc:
            assert self.head is not None
            assert exc.quarantined is not None
            version, kept = self.run(self.svc.read_version(U, exc.quarantined))
            assert version.quarantined and kept == data
            return
        assert self.holder is None or lock_id == self.holder
        if self.head is not None:
            cur_serial, cur_lineage, cur_bytes = self.head
            if cur_bytes != data:
                assert lineage == cur_lineage and serial > cur_serial
        if result.changed:
            self.acked[result.version.number] = data
        self.head = (serial, lineage, data)

    @precondition(lambda self: len(self.acked) > 0)
    @rule(pick=st.integers(0, 1000))
    def restore(self, pick: int) -> None:
        numbers = sorted(self.acked)
        number = numbers[pick % len(numbers)]
        try:
            version = self.run(self.svc.restore(U, number, lock_id=self.holder))
        except LockConflict:  # pragma: no cover - we always pass the holder
            raise AssertionError("restore with the holder's ID must not conflict") from None
        _, data = self.run(self.svc.download(U))
        doc = json.loads(data)
        old = json.loads(self.acked[number])
        assert doc == {**old, "serial": doc["serial"]}
        assert self.head is not None
        assert doc["serial"] > self.head[0]
        self.acked[version.number] = data
        self.head = (doc["serial"], doc["lineage"], data)

    @invariant()
    def one_holder_matches_model(self) -> None:
        unit = self.run(self.svc.get_unit(U))
        assert (unit.lock.id if unit.lock else None) == self.holder

    @invariant()
    def history_is_append_only(self) -> None:
        versions = self.run(self.svc.list_versions(U))
        numbers = [v.number for v in versions]
        assert numbers == sorted(numbers, reverse=True)
        for v in versions:
            if v.number in self.seen_meta:
                assert self.seen_meta[v.number] == v
            self.seen_meta[v.number] = v
        assert set(self.seen_meta) == set(numbers)

    @invariant()
    def acknowledged_writes_are_kept_and_head_is_current(self) -> None:
        for number, data in self.acked.items():
            assert self.run(self.svc.read_version(U, number))[1] == data
        found = self.run(self.svc.download(U))
        if self.head is None:
            assert found is None
        else:
            assert found[1] == self.head[2]


class SqliteServiceMachine(ServiceMachine):
    def make_store(self) -> StateStore:
        self.tmp = tempfile.TemporaryDirectory()
        return self.run(SqliteStateStore.open(Path(self.tmp.name) / "t.db"))

    def teardown(self) -> None:
        super().teardown()
        self.tmp.cleanup()


TestMemoryService = ServiceMachine.TestCase
TestMemoryService.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestSqliteService = SqliteServiceMachine.TestCase
TestSqliteService.settings = settings(max_examples=25, stateful_step_count=25, deadline=None)
