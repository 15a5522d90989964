"""Hypothesis state machine: the graph service's worker under concurrent writes,
edge changes and graph-unit locks, on the memory and SQLite stores, against a
simple model.

The system under test is the whole service: a ``StateService`` whose events
feed a ``GraphService`` whose worker (``run``) runs all along in its own task.
Unit writes come in batches committed concurrently by separate tasks (one
per unit, as Terraform holds a lock per unit); Terraform changes the edges
(holding the graph unit's lock, or the one a rule holds); the lock is held
across other steps.

The model keeps output values, not digests: per edge the value its source last
showed (``seen``) and the value its target last consumed (``consumed``), with
writes applied in the order the service published them. Two properties:

- read-your-writes: right after every step, the colours a status read answers
  are the model's, whether or not the worker has caught up or may write;
- no update is lost: whenever the graph unit is free, the committed graph
  eventually holds exactly the model's statuses and digests, and every field
  of the state the service does not own is kept.
"""

from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from taco_adapters.memory import MemoryStateStore
from taco_adapters.sqlite import SqliteStateStore
from taco_core.digest import edge_id, value_digest
from taco_core.events import StateCommitted
from taco_core.graph import GRAPH_UNIT
from taco_core.graph_status import Colour
from tests.unit.graph_world import World

UNITS = ["a", "b", "c", "d"]
VALUES = ["v1", "v2", "v3"]
NONE = object()

outputs = st.one_of(st.none(), st.sampled_from(VALUES))  # None: no output "out"
batches = st.lists(
    st.tuples(st.sampled_from(UNITS), outputs), min_size=1, max_size=4, unique_by=lambda w: w[0]
)


@attrs.define
class ModelEdge:
    source: str
    target: str
    seen: Any = NONE
    consumed: Any = NONE
    status: str = "unknown"

    @property
    def link(self) -> tuple[str, str, str]:
        return (self.source, "out", self.target)

    @property
    def id(self) -> str:
        return edge_id(self.source, "out", self.target)


class ServiceMachine(RuleBasedStateMachine):
    store_kind = "memory"

    def __init__(self) -> None:
        super().__init__()
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self.portal = self._portal_cm.__enter__()
        self.tmp = Path(tempfile.mkdtemp(prefix="graph-machine-"))
        self.world: World = self.portal.call(self._open)
        self.worker: Future[None] = self.portal.start_task_soon(self.world.graph.run)
        self.values: dict[str, Any] = {}  # unit -> value of "out" (NONE: no such output)
        self.edges: list[ModelEdge] = []
        self.lock: str | None = None

    async def _open(self) -> World:
        if self.store_kind == "memory":
            return World(MemoryStateStore())
        return World(await SqliteStateStore.open(self.tmp / "taco.db"))

    def teardown(self) -> None:
        try:
            self.worker.cancel()
            if isinstance(self.world.store, SqliteStateStore):
                self.portal.call(self.world.store.aclose)
        finally:
            self._portal_cm.__exit__(None, None, None)
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the model -----------------------------------------------------------

    def model_write(self, unit: str, value: Any) -> None:
        self.values[unit] = value
        for edge in self.edges:
            if edge.source == unit:
                if value is NONE:
                    edge.status = "unknown"
                else:
                    edge.seen = value
                    consumed = edge.consumed is not NONE and edge.consumed == value
                    edge.status = "ok" if consumed else "pending"
            if edge.target == unit and edge.seen is not NONE:
                edge.consumed = edge.seen
                edge.status = "ok"

    def model_seed(self, edge: ModelEdge) -> None:
        value = self.values.get(edge.source, NONE)
        if value is NONE:
            edge.seen, edge.consumed, edge.status = NONE, NONE, "unknown"
        elif edge.target in self.values:
            edge.seen, edge.consumed, edge.status = value, value, "ok"
        else:
            edge.seen, edge.consumed, edge.status = value, NONE, "pending"

    def model_colours(self) -> str:
        red = {e.target for e in self.edges if e.status == "pending"}
        reached: set[str] = set()
        frontier = set(red)
        while frontier:
            frontier = {e.target for e in self.edges if e.source in frontier} - reached - red
            reached |= frontier
        colours = {u: Colour.RED if u in red else Colour.YELLOW if u in reached else Colour.GREEN
                   for u in UNITS}  # fmt: skip
        return "".join(colours[u].value[0] for u in UNITS)

    # -- rules -----------------------------------------------------------------

    @rule(batch=batches)
    def write_units(self, batch: list[tuple[str, str | None]]) -> None:
        """Units are written at the same time, each by its own task."""
        seen = len(self.world.recorder.events)

        async def write(unit: str, value: str | None) -> None:
            await self.world.write(unit, **({} if value is None else {"out": value}))

        async def write_all() -> None:
            async with anyio.create_task_group() as tg:
                for unit, value in batch:
                    tg.start_soon(write, unit, value)

        self.portal.call(write_all)
        by_unit = dict(batch)
        for event in self.world.recorder.events[seen:]:
            if isinstance(event, StateCommitted) and event.unit_id != GRAPH_UNIT:
                value = by_unit[event.unit_id]
                self.model_write(event.unit_id, NONE if value is None else value)

    def _terraform_writes(self, edges: list[ModelEdge]) -> None:
        known = {e.id for e in self.edges}
        links = [e.link for e in edges]

        async def apply() -> None:
            if self.lock is not None:
                await self.world.set_edges(links, lock_id=self.lock)
                return
            lock = await self.world.lock_graph()
            await self.world.set_edges(links, lock_id=lock)
            await self.world.unlock_graph()

        self.portal.call(apply)
        self.edges = edges
        for edge in self.edges:
            if edge.id not in known or (edge.seen is NONE and edge.consumed is NONE):
                self.model_seed(edge)

    @precondition(lambda self: len(self.edges) < 5)
    @rule(source=st.sampled_from(UNITS), to=st.sampled_from(UNITS))
    def add_edge(self, source: str, to: str) -> None:
        """Terraform adds an edge (a duplicate of an existing one is skipped)."""
        if source == to or any(e.link == (source, "out", to) for e in self.edges):
            return
        self._terraform_writes([*self.edges, ModelEdge(source, to)])

    @precondition(lambda self: self.edges)
    @rule(data=st.data())
    def remove_edge(self, data: st.DataObject) -> None:
        """Terraform removes an edge."""
        index = data.draw(st.integers(0, len(self.edges) - 1))
        self._terraform_writes([e for i, e in enumerate(self.edges) if i != index])

    @precondition(lambda self: self.lock is None)
    @rule()
    def lock_graph(self) -> None:
        """Someone starts applying the graph's configuration and holds its lock."""
        self.lock = self.portal.call(self.world.lock_graph)

    @precondition(lambda self: self.lock is not None)
    @rule()
    def unlock_graph(self) -> None:
        """The apply ends."""
        self.portal.call(self.world.unlock_graph)
        self.lock = None

    # -- invariants ------------------------------------------------------------

    @invariant()
    def a_status_read_sees_every_write(self) -> None:
        colours = self.portal.call(self.world.colours, *UNITS)
        assert colours == self.model_colours()

    def _committed_matches(self, committed: list[Any]) -> bool:
        if len(committed) != len(self.edges):
            return False
        for got, want in zip(committed, self.edges, strict=True):
            seen = "" if want.seen is NONE else value_digest(want.seen)
            consumed = "" if want.consumed is NONE else value_digest(want.consumed)
            if (got.status, got.in_digest, got.out_digest) != (want.status, seen, consumed):
                return False
        return True

    @invariant()
    def the_committed_graph_catches_up(self) -> None:
        if self.lock is not None or not self.edges:
            return

        async def caught_up() -> bool:
            assert not self.world.failures, self.world.failures
            return self._committed_matches(await self.world.committed_edges())

        async def wait() -> None:
            with anyio.fail_after(20):
                await self.world.recorder.until(caught_up)

        self.portal.call(wait)
        doc = self.portal.call(self.world.graph_doc)
        assert doc is not None
        assert doc["x_keep"] == {"n": 1.0}
        assert not self.world.failures


class SqliteServiceMachine(ServiceMachine):
    store_kind = "sqlite"


_SETTINGS = settings(max_examples=40, stateful_step_count=15, deadline=None)
ServiceMachine.TestCase.settings = _SETTINGS
SqliteServiceMachine.TestCase.settings = _SETTINGS
test_graph_service_on_memory = ServiceMachine.TestCase
test_graph_service_on_sqlite = SqliteServiceMachine.TestCase
