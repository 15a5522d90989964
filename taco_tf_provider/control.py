"""The ports the provider drives: ``StateControl`` and ``DependencyGraph``, and
closing their connections."""

from __future__ import annotations

from typing import Protocol

from taco_core.ports import DependencyGraph, StateControl


class ProviderControl(StateControl, DependencyGraph, Protocol):
    """What the resources and data sources call, implemented over HTTP by
    ``taco_tf_provider.client.ProviderClient`` and in memory by the tests' fake."""

    async def aclose(self) -> None:
        """Release connections; called once, when the provider process ends."""
        ...
