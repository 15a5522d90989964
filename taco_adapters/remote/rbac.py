"""``RemoteRbac``: a server's RBAC API (``/v1/rbac``), what ``taco rbac`` calls.

Same transport as ``RemoteStateControl`` and ``RemoteAuth``: timeouts,
retries where safe, the Bearer token and its renewal. Reads and tests are
retried; an edit is sent once (a resent "assign" would answer "already
assigned", a resent delete "not found", for a change that was made).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from taco_adapters.remote.transport import RemoteClient
from taco_adapters.wire import (
    AssignPermissionRequest,
    AssignRoleRequest,
    PermissionRequest,
    RbacTestRequest,
    RoleRequest,
    assignments_from_json,
    held_roles_from_json,
    permission_from_json,
    permissions_from_json,
    rbac_test_from_json,
    request_json,
    role_from_json,
    roles_from_json,
    rule_request,
)
from taco_core.rbac import Permission, Role, Rule
from taco_core.rbac_admin import HeldRoles, RbacTestResult

_BASE = "/v1/rbac"


def _id(value: str) -> str:
    return quote(value, safe="")


class RemoteRbac(RemoteClient):
    """The RBAC API of the server at ``server``; arguments as ``RemoteStateControl``'s."""

    async def me(self) -> HeldRoles:
        """The caller's subject, groups and roles (``GET /v1/rbac/me``)."""
        reply = await self._http.call("GET", f"{_BASE}/me", safe=True)
        return held_roles_from_json(reply.json())

    async def test(
        self,
        action: str,
        resource: str,
        *,
        subject: str | None = None,
        groups: Sequence[str] = (),
    ) -> RbacTestResult:
        """Whether ``subject`` (default: the caller) may do ``action`` on
        ``resource``, and which rule decided (``POST /v1/rbac/test``)."""
        body = request_json(RbacTestRequest(action, resource, subject, list(groups)))
        reply = await self._http.call("POST", f"{_BASE}/test", json_body=body, safe=True)
        return rbac_test_from_json(reply.json())

    # -- subjects --------------------------------------------------------------------

    async def assignments(self) -> dict[str, tuple[str, ...]]:
        """Every subject holding a role, with its roles."""
        reply = await self._http.call("GET", f"{_BASE}/users", safe=True)
        return assignments_from_json(_array(reply.body))

    async def assign_role(self, subject: str, role_id: str) -> tuple[str, ...]:
        """Give ``subject`` the role; its roles afterwards."""
        body = request_json(AssignRoleRequest(subject, role_id))
        reply = await self._http.call("POST", f"{_BASE}/users/assign", json_body=body)
        return tuple(str(r) for r in reply.json().get("roles") or [])

    async def revoke_role(self, subject: str, role_id: str) -> tuple[str, ...]:
        """Take the role from ``subject``; its roles afterwards."""
        body = request_json(AssignRoleRequest(subject, role_id))
        reply = await self._http.call("POST", f"{_BASE}/users/revoke", json_body=body)
        return tuple(str(r) for r in reply.json().get("roles") or [])

    # -- roles -----------------------------------------------------------------------

    async def roles(self) -> list[Role]:
        reply = await self._http.call("GET", f"{_BASE}/roles", safe=True)
        return roles_from_json(_array(reply.body))

    async def create_role(
        self,
        role_id: str,
        *,
        name: str = "",
        description: str = "",
        permissions: Sequence[str] = (),
    ) -> Role:
        body = request_json(RoleRequest(role_id, name, description, list(permissions)))
        reply = await self._http.call("POST", f"{_BASE}/roles", json_body=body)
        return role_from_json(reply.json()["role"])

    async def delete_role(self, role_id: str, *, cascade: bool = False) -> None:
        params = {"cascade": "true"} if cascade else None
        await self._http.call("DELETE", f"{_BASE}/roles/{_id(role_id)}", params=params)

    async def assign_permission(self, role_id: str, permission_id: str) -> Role:
        body = request_json(AssignPermissionRequest(permission_id))
        reply = await self._http.call(
            "POST", f"{_BASE}/roles/{_id(role_id)}/permissions", json_body=body
        )
        return role_from_json(reply.json()["role"])

    async def revoke_permission(self, role_id: str, permission_id: str) -> None:
        await self._http.call(
            "DELETE", f"{_BASE}/roles/{_id(role_id)}/permissions/{_id(permission_id)}"
        )

    # -- permissions -----------------------------------------------------------------

    async def permissions(self) -> list[Permission]:
        reply = await self._http.call("GET", f"{_BASE}/permissions", safe=True)
        return permissions_from_json(_array(reply.body))

    async def create_permission(
        self,
        permission_id: str,
        rules: Sequence[Rule],
        *,
        name: str = "",
        description: str = "",
    ) -> Permission:
        body = request_json(
            PermissionRequest(permission_id, [rule_request(r) for r in rules], name, description)
        )
        reply = await self._http.call("POST", f"{_BASE}/permissions", json_body=body)
        return permission_from_json(reply.json())

    async def delete_permission(self, permission_id: str, *, cascade: bool = False) -> None:
        params = {"cascade": "true"} if cascade else None
        await self._http.call("DELETE", f"{_BASE}/permissions/{_id(permission_id)}", params=params)


def _array(body: bytes) -> list[dict[str, Any]]:
    """A reply that is a JSON array of objects (the reference's list shape)."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return []
    return [d for d in doc if isinstance(d, dict)] if isinstance(doc, list) else []
