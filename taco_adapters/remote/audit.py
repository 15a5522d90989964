"""``RemoteAuditTrail``: a server's audit trail (``GET /v1/audit``), the
``AuditTrail`` port over HTTP, for ``taco audit`` and scripts."""

from __future__ import annotations

from taco_adapters.remote.transport import RemoteClient
from taco_adapters.wire import audit_page_from_json, rfc3339
from taco_core.audit import AuditPage, AuditQuery


class RemoteAuditTrail(RemoteClient):
    """The audit trail of the server at ``server``; arguments as
    ``RemoteStateControl``'s. Reading it needs the ``audit.read`` permission
    (``PermissionDenied`` otherwise)."""

    async def query(self, query: AuditQuery) -> AuditPage:
        params = {"limit": str(query.limit)}
        if query.unit:
            params["unit"] = query.unit
        if query.subject:
            params["subject"] = query.subject
        if query.since is not None:
            params["since"] = rfc3339(query.since)
        if query.after:
            params["after"] = query.after
        reply = await self._http.call("GET", "/v1/audit", params=params, safe=True)
        return audit_page_from_json(reply.json())
