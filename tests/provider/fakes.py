"""A fake service for the provider: the core's ``StateService`` over the public
in-memory store (real rules: ID checks, locks, history), plus the provider's
label update, and switches that make a method fail the way a server would."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from taco_adapters.clock import ManualClock
from taco_adapters.memory import MemoryStateStore
from taco_core.model import StateVersion, Unit
from taco_core.service import StateService
from taco_core.unit_id import UnitId


class FakeControl(StateService):
    """``ProviderControl`` in memory. ``refuse[name] = error`` makes method
    ``name`` raise ``error``; ``calls`` records the provider's calls in order."""

    def __init__(self) -> None:
        super().__init__(MemoryStateStore(), ManualClock())
        self.refuse: dict[str, Exception] = {}
        self.calls: list[tuple[str, object]] = []
        self.closed = False
        self._labels: dict[UnitId, dict[str, str]] = {}

    def _enter(self, name: str, arg: object) -> None:
        self.calls.append((name, arg))
        if name in self.refuse:
            raise self.refuse[name]

    def _relabelled(self, unit: Unit) -> Unit:
        labels = self._labels.get(unit.id)
        return unit if labels is None else attrs.evolve(unit, labels=labels)

    async def create_unit(self, raw_id: str, labels: Mapping[str, str] | None = None) -> Unit:
        self._enter("create_unit", raw_id)
        unit = await super().create_unit(raw_id, labels)
        self._labels.pop(unit.id, None)
        return unit

    async def get_unit(self, unit_id: UnitId) -> Unit:
        self._enter("get_unit", unit_id)
        return self._relabelled(await super().get_unit(unit_id))

    async def list_units(self, prefix: str = "", *, deleted: bool = False) -> Sequence[Unit]:
        self._enter("list_units", prefix)
        return [self._relabelled(u) for u in await super().list_units(prefix, deleted=deleted)]

    async def delete_unit(self, unit_id: UnitId) -> None:
        self._enter("delete_unit", unit_id)
        await super().delete_unit(unit_id)

    async def download(self, unit_id: UnitId) -> tuple[StateVersion, bytes] | None:
        self._enter("download", unit_id)
        return await super().download(unit_id)

    async def set_labels(self, unit_id: UnitId, labels: Mapping[str, str]) -> Unit:
        self._enter("set_labels", unit_id)
        await super().get_unit(unit_id)  # UnitNotFound, as the server would answer
        self._labels[unit_id] = dict(labels)
        return await self.get_unit(unit_id)

    async def aclose(self) -> None:
        self.closed = True
