"""The port the provider drives: ``StateControl`` plus what only the provider needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from taco_core.model import Unit
from taco_core.ports import StateControl
from taco_core.unit_id import UnitId


class ProviderControl(StateControl, Protocol):
    """What the resources and data sources call, implemented over HTTP by
    ``taco_tf_provider.client.ProviderClient`` and in memory by the tests' fake."""

    async def update_labels(self, unit_id: UnitId, changes: Mapping[str, str | None]) -> Unit:
        """Set each label of ``changes`` to its value, or remove it where the
        value is ``None``, leaving the others (nothing else about the unit
        changes), and return the unit; ``UnitNotFound`` if it does not exist."""
        ...

    async def aclose(self) -> None:
        """Release connections; called once, when the provider process ends."""
        ...
