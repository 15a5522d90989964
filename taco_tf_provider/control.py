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

    async def set_labels(self, unit_id: UnitId, labels: Mapping[str, str]) -> Unit:
        """Replace the unit's labels in place (nothing else about it changes) and
        return the unit; ``UnitNotFound`` if it does not exist."""
        ...

    async def aclose(self) -> None:
        """Release connections; called once, when the provider process ends."""
        ...
