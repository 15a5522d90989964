"""A fake service for the provider: the core's ``StateService`` over the public
in-memory store (real rules: ID checks, locks, history, labels, authorization
and outputs-only reads), acting as the provider's caller, with switches that
make a method fail the way a server would."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from taco_adapters.clock import ManualClock
from taco_adapters.memory import MemoryStateStore
from taco_core.access import ReadAccess
from taco_core.auth import Principal, PrincipalKind
from taco_core.caller import Caller
from taco_core.errors import PermissionDenied
from taco_core.event_bus import EventBus
from taco_core.graph_service import GraphService
from taco_core.graph_status import GraphView, UnitStatus
from taco_core.model import StateVersion, Surface, Unit
from taco_core.service import BoundStateControl, StateService
from taco_core.unit_id import UnitId

T = TypeVar("T")

TERRAFORM = Caller(
    Principal(subject="terraform", kind=PrincipalKind.API_TOKEN, token_id="tok1"), Surface.API
)


class Denials:
    """An ``AccessControl`` that allows everything but what a test denies:
    ``deny(action, unit)``, or ``outputs_only(unit)`` (only ``unit.read_outputs``
    of the full reads)."""

    def __init__(self) -> None:
        self.denied: set[tuple[str, str]] = set()
        self.outputs_only_units: set[str] = set()

    def deny(self, action: str, unit: str) -> None:
        self.denied.add((action, unit))

    def outputs_only(self, unit: str) -> None:
        self.outputs_only_units.add(unit)

    async def check(self, principal: Principal, action: str, resource: str) -> object:
        if (action, resource) in self.denied:
            raise PermissionDenied(action, resource, "no rule of the caller's roles allows it")
        return None

    async def filter(
        self, principal: Principal, action: str, items: Iterable[T], key: Callable[[T], str]
    ) -> list[T]:
        return [i for i in items if (action, key(i)) not in self.denied]

    async def read_access(self, principal: Principal, unit_id: str) -> ReadAccess:
        if unit_id in self.outputs_only_units:
            return ReadAccess.OUTPUTS_ONLY
        await self.check(principal, "unit.read", unit_id)
        return ReadAccess.FULL


class FakeControl(BoundStateControl):
    """``ProviderControl`` in memory, as the caller ``TERRAFORM``.
    ``access`` decides what it may do; ``refuse[name] = error`` makes method
    ``name`` raise ``error``; ``calls`` records the provider's calls in order."""

    def __init__(self) -> None:
        self.access = Denials()
        self.clock = ManualClock()
        bus = EventBus()
        super().__init__(
            StateService(MemoryStateStore(), self.clock, access=self.access, events=bus),
            TERRAFORM,
        )
        self.graph_service = GraphService(self.service, reconcile_interval=None)
        bus.subscribe(self.graph_service)
        self.refuse: dict[str, Exception] = {}
        self.calls: list[tuple[str, object]] = []
        self.closed = False

    def _enter(self, name: str, arg: object) -> None:
        self.calls.append((name, arg))
        if name in self.refuse:
            raise self.refuse[name]

    async def create_unit(self, raw_id: str, labels: Mapping[str, str] | None = None) -> Unit:
        self._enter("create_unit", raw_id)
        return await super().create_unit(raw_id, labels)

    async def get_unit(self, unit_id: UnitId) -> Unit:
        self._enter("get_unit", unit_id)
        return await super().get_unit(unit_id)

    async def list_units(self, prefix: str = "", *, deleted: bool = False) -> Sequence[Unit]:
        self._enter("list_units", prefix)
        return await super().list_units(prefix, deleted=deleted)

    async def delete_unit(self, unit_id: UnitId) -> None:
        self._enter("delete_unit", unit_id)
        await super().delete_unit(unit_id)

    async def download(self, unit_id: UnitId) -> tuple[StateVersion, bytes] | None:
        self._enter("download", unit_id)
        return await super().download(unit_id)

    async def update_labels(self, unit_id: UnitId, changes: Mapping[str, str | None]) -> Unit:
        self._enter("update_labels", (unit_id, dict(changes)))
        return await super().update_labels(unit_id, changes)

    async def unit_status(self, unit_id: UnitId) -> UnitStatus:
        self._enter("unit_status", unit_id)
        return await self.graph_service.unit_status(self.caller, unit_id)

    async def statuses(self, prefix: str = "") -> Sequence[UnitStatus]:
        return await self.graph_service.statuses(self.caller, prefix)

    async def graph(self, unit_id: UnitId | None = None) -> GraphView:
        return await self.graph_service.view(self.caller, unit_id)

    async def aclose(self) -> None:
        self.closed = True
