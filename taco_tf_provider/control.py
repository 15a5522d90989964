"""The port the provider drives: ``StateControl``, and closing its connections."""

from __future__ import annotations

from typing import Protocol

from taco_core.ports import StateControl


class ProviderControl(StateControl, Protocol):
    """What the resources and data sources call, implemented over HTTP by
    ``taco_adapters.remote.RemoteStateControl`` and in memory by the tests' fake."""

    async def aclose(self) -> None:
        """Release connections; called once, when the provider process ends."""
        ...
