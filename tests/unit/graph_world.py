"""A state service with its dependency graph, driven the way Terraform drives it.

Units are written with rising serials of one lineage each (so the clobber
guard accepts them), and the graph unit is written as Terraform applies the
graph's configuration: the current instances read back (keeping what the
service computed), new ones as the provider creates them, serial + 1.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from taco_adapters.clock import ManualClock
from taco_adapters.memory import MemoryStateStore
from taco_adapters.sqlite import SqliteStateStore
from taco_core.auth import Principal, PrincipalKind
from taco_core.caller import SYSTEM_CALLER, Caller
from taco_core.digest import edge_id
from taco_core.errors import UnitNotFound
from taco_core.event_bus import EventBus
from taco_core.events import Event, StateCommitted, UnitStatusChanged
from taco_core.graph import GRAPH_UNIT, Edge, read_graph
from taco_core.graph_service import GraphService
from taco_core.graph_status import Colour
from taco_core.model import LockInfo, Surface, UnitId
from taco_core.ports import StateStore
from taco_core.service import StateService
from tests.unit.graph_states import dependency_attributes, encode, graph_state, instance

TERRAFORM = Caller(Principal(subject="ci", kind=PrincipalKind.USER), Surface.BACKEND)
Link = tuple[str, str, str]  # source, output, target


class Recorder:
    """An ``EventSink`` that keeps every event and wakes waiters on each."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = anyio.Event()

    async def publish(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()
        self._changed = anyio.Event()

    async def until(self, check: Callable[[], Awaitable[bool]]) -> None:
        """Until ``check()`` holds, looking again after each event (none is
        missed: the count is taken before the check)."""
        while True:
            seen = len(self.events)
            if await check():
                return
            while len(self.events) == seen:
                await self._changed.wait()

    def status_changes(self) -> list[tuple[str, str, str]]:
        return [
            (e.unit_id, e.before.value, e.after.value)
            for e in self.events
            if isinstance(e, UnitStatusChanged)
        ]

    def graph_commits(self) -> list[StateCommitted]:
        return [e for e in self.events if isinstance(e, StateCommitted) and e.unit_id == GRAPH_UNIT]


class World:
    """One store, its ``StateService`` and a ``GraphService`` subscribed to it."""

    def __init__(self, store: StateStore, clock: ManualClock | None = None) -> None:
        self.store = store
        self.clock = clock or ManualClock()
        self.bus = EventBus()
        self.recorder = Recorder()
        self.states = StateService(store, self.clock, events=self.bus)
        self.graph = GraphService(
            self.states, reconcile_interval=None, retry_delay=0.01, on_error=self._failed
        )
        self.failures: list[Exception] = []
        self.bus.subscribe(self.recorder)
        self.bus.subscribe(self.graph)
        self.serials: dict[str, int] = {}
        self.graph_lock: str | None = None

    def _failed(self, message: str, exc: Exception) -> None:
        self.failures.append(exc)

    def restarted(self) -> World:
        """A new process on the same storage: nothing in memory survives."""
        return World(self.store, self.clock)

    # -- units -------------------------------------------------------------

    async def write(self, unit: str, **outputs: Any) -> None:
        """Commit the unit's next state, with these output values."""
        self.clock.advance(2)
        serial = self.serials.get(unit, 0) + 1
        self.serials[unit] = serial
        doc = {
            "version": 4,
            "terraform_version": "1.15.5",
            "serial": serial,
            "lineage": f"lineage-{unit}",
            "outputs": {k: {"value": v, "type": "string"} for k, v in outputs.items()},
            "resources": [],
        }
        await self.states.upload(TERRAFORM, UnitId(unit), encode(doc), create_missing=True)

    # -- the graph unit, as Terraform writes it ----------------------------

    async def graph_doc(self) -> dict[str, Any] | None:
        try:
            found = await self.store.read_state(GRAPH_UNIT)
        except UnitNotFound:
            return None
        return json.loads(found[1]) if found is not None else None

    async def set_edges(self, links: Sequence[Link], *, lock_id: str | None = None) -> None:
        """Terraform applies a configuration declaring exactly these edges."""
        self.clock.advance(2)
        doc = await self.graph_doc() or graph_state(serial=0, x_keep={"n": 1.0})
        kept = {
            inst["attributes"]["id"]: inst for res in doc["resources"] for inst in res["instances"]
        }
        resources = []
        for n, (source, output, target) in enumerate(links):
            ident = edge_id(source, output, target)
            made = kept.get(ident) or instance(dependency_attributes(source, output, target))
            resources.append(
                {"mode": "managed", "type": "opentaco_dependency", "name": f"e{n}",
                 "provider": 'provider["registry.terraform.io/diggerhq/opentaco"]',
                 "instances": [made]}
            )  # fmt: skip
        doc["resources"] = resources
        doc["serial"] += 1
        await self.states.upload(
            TERRAFORM, GRAPH_UNIT, encode(doc), lock_id=lock_id, create_missing=True
        )

    async def lock_graph(self) -> str:
        held = await self.states.lock(
            TERRAFORM, GRAPH_UNIT, LockInfo(id="tf-lock", who="terraform"), create_missing=True
        )
        self.graph_lock = held.id
        return held.id

    async def unlock_graph(self) -> None:
        await self.states.unlock(TERRAFORM, GRAPH_UNIT, self.graph_lock)
        self.graph_lock = None

    async def committed_edges(self) -> list[Edge]:
        found = await self.store.read_state(GRAPH_UNIT)
        assert found is not None
        graph = read_graph(found[1])
        assert graph is not None
        return list(graph.edges)

    async def committed(self) -> dict[Link, str]:
        """Each committed edge's status."""
        return {
            (e.from_unit_id, e.from_output, e.to_unit_id): e.status
            for e in await self.committed_edges()
        }

    async def colours(self, *units: str) -> str:
        """The colours a status read answers now, one letter per unit."""
        index = await self.graph.current_index()
        return "".join(index.colour(u).value[0] for u in units)

    async def colour(self, unit: str) -> Colour:
        status = await self.graph.unit_status(SYSTEM_CALLER, UnitId(unit))
        return status.status


@asynccontextmanager
async def world_on(kind: str, tmp_path: Path) -> AsyncIterator[World]:
    """A ``World`` on the memory store or on a SQLite file."""
    if kind == "memory":
        yield World(MemoryStateStore())
        return
    store = await SqliteStateStore.open(tmp_path / f"graph-{id(tmp_path)}.db")
    try:
        yield World(store)
    finally:
        await store.aclose()
