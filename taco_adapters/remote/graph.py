"""``RemoteDependencyGraph``: the ``DependencyGraph`` port over HTTP.

The server's status views (``/v1/units/{id}/status``, ``/v1/status``,
``/v1/graph``) as the core's ``UnitStatus`` and ``GraphView``, so the CLI
shows the same thing whether it talks to a server or works embedded. Every
call is a read, so every call may be retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from taco_adapters.remote.transport import RemoteClient
from taco_adapters.wire import graph_from_json, status_from_json, statuses_from_json
from taco_core.graph_status import GraphView, UnitStatus
from taco_core.model import UnitId


class RemoteDependencyGraph(RemoteClient):
    """The dependency graph of a running ``opentacosvc`` (arguments as
    ``RemoteStateControl``'s)."""

    async def unit_status(self, unit_id: UnitId) -> UnitStatus:
        path = f"/v1/units/{quote(unit_id, safe='')}/status"
        reply = await self._http.call("GET", path, safe=True)
        return status_from_json(reply.json())

    async def statuses(self, prefix: str = "") -> Sequence[UnitStatus]:
        reply = await self._http.call("GET", "/v1/status", params={"prefix": prefix}, safe=True)
        return statuses_from_json(reply.json())

    async def graph(self, unit_id: UnitId | None = None) -> GraphView:
        params = {"unit": unit_id} if unit_id is not None else None
        reply = await self._http.call("GET", "/v1/graph", params=params, safe=True)
        return graph_from_json(reply.json())
