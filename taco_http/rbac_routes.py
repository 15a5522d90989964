"""The RBAC API under ``/v1/rbac``: what ``taco rbac`` calls.

Shapes follow the Go reference (``docs/rbac.md`` lists them and where we
differ). Nothing is checked here: ``RbacAdmin`` asks for ``rbac.manage``
before every listing and edit, and lets anyone ask about themselves
(``/me``, and ``/test`` without another subject). Refusals are the core's
``PermissionDenied`` (403), rendered by ``taco_http.errors`` like any error.

- ``GET /me``: the caller's subject, groups and roles.
- ``GET /users``; ``POST /users/assign`` and ``/users/revoke``
  ``{"subject", "role_id"}``.
- ``GET|POST /roles``; ``GET|DELETE /roles/{id}``; ``POST
  /roles/{id}/permissions`` ``{"permission_id"}``; ``DELETE
  /roles/{id}/permissions/{permission_id}``.
- ``GET|POST /permissions``; ``GET|DELETE /permissions/{id}``.
- ``POST /test`` ``{"action", "resource", "subject"?, "groups"?}``.

``DELETE`` of a role or permission still in use is 409 unless
``?cascade=true``, which removes it from its holders too.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from taco_adapters.wire import (
    AssignmentChangeDoc,
    AssignmentDoc,
    AssignPermissionRequest,
    AssignRoleRequest,
    HeldRolesDoc,
    PermissionDoc,
    PermissionRequest,
    RbacTestDoc,
    RbacTestRequest,
    RoleChangeDoc,
    RoleDoc,
    RoleRequest,
    assignments_json,
    held_roles_json,
    permission_json,
    permission_rules,
    permissions_json,
    rbac_test_json,
    role_json,
    roles_json,
    structure,
)
from taco_core.caller import Caller
from taco_core.errors import InvalidInput
from taco_core.model import Surface
from taco_core.rbac import RbacPolicy
from taco_core.rbac_admin import RbacAdmin
from taco_http.auth import caller_of
from taco_http.body import read_json_object
from taco_http.context import services_of
from taco_http.operations import Json, Operation, Param, Reply, error, errors, ok, ok_list

PREFIX = "/v1/rbac"


def _admin(request: Request) -> RbacAdmin:
    return services_of(request).rbac_admin


def _caller(request: Request) -> Caller:
    return caller_of(request, Surface.API)


def _cascade(request: Request) -> bool:
    value = request.query_params.get("cascade", "").lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise InvalidInput(f"cascade must be true or false, got {value!r}")


# -- who am I, and may I ----------------------------------------------------------------


async def me(request: Request) -> Response:
    return JSONResponse(held_roles_json(await _admin(request).me(_caller(request))))


async def test(request: Request) -> Response:
    req = structure(await read_json_object(request, "test request"), RbacTestRequest, "test")
    result = await _admin(request).test(
        _caller(request), req.action, req.resource, subject=req.subject, groups=req.groups
    )
    return JSONResponse(rbac_test_json(result))


# -- subjects ---------------------------------------------------------------------------


async def list_users(request: Request) -> Response:
    return JSONResponse(assignments_json(await _admin(request).policy(_caller(request))))


async def assign_role(request: Request) -> Response:
    req = structure(
        await read_json_object(request, "assignment"), AssignRoleRequest, "role assignment"
    )
    saved = await _admin(request).assign_role(_caller(request), req.subject, req.role_id)
    return JSONResponse(_assignment("role assigned successfully", req.subject, saved))


async def revoke_role(request: Request) -> Response:
    req = structure(
        await read_json_object(request, "assignment"), AssignRoleRequest, "role revocation"
    )
    saved = await _admin(request).revoke_role(_caller(request), req.subject, req.role_id)
    return JSONResponse(_assignment("role revoked successfully", req.subject, saved))


def _assignment(message: str, subject: str, policy: RbacPolicy) -> dict[str, Any]:
    roles = list(policy.assignments.get(subject, ()))
    return {"message": message, "subject": subject, "roles": roles, "version": policy.version}


# -- roles ------------------------------------------------------------------------------


async def list_roles(request: Request) -> Response:
    return JSONResponse(roles_json(await _admin(request).policy(_caller(request))))


async def create_role(request: Request) -> Response:
    req = structure(await read_json_object(request, "role"), RoleRequest, "role")
    saved = await _admin(request).create_role(
        _caller(request),
        req.id,
        permissions=req.permissions,
        name=req.name,
        description=req.description,
    )
    return JSONResponse(
        {
            "message": "role created successfully",
            "role": role_json(saved.roles[req.id], saved.version),
        }
    )


async def get_role(request: Request) -> Response:
    admin, caller = _admin(request), _caller(request)
    role = await admin.role(caller, request.path_params["role_id"])
    return JSONResponse(role_json(role, (await admin.policy(caller)).version))


async def delete_role(request: Request) -> Response:
    await _admin(request).delete_role(
        _caller(request), request.path_params["role_id"], cascade=_cascade(request)
    )
    return Response(status_code=204)


async def assign_permission(request: Request) -> Response:
    req = structure(
        await read_json_object(request, "permission assignment"),
        AssignPermissionRequest,
        "permission assignment",
    )
    role_id = request.path_params["role_id"]
    saved = await _admin(request).assign_permission(_caller(request), role_id, req.permission_id)
    return JSONResponse(
        {
            "message": "permission assigned to role successfully",
            "role": role_json(saved.roles[role_id], saved.version),
        }
    )


async def revoke_permission(request: Request) -> Response:
    await _admin(request).revoke_permission(
        _caller(request), request.path_params["role_id"], request.path_params["permission_id"]
    )
    return Response(status_code=204)


# -- permissions ------------------------------------------------------------------------


async def list_permissions(request: Request) -> Response:
    return JSONResponse(permissions_json(await _admin(request).policy(_caller(request))))


async def create_permission(request: Request) -> Response:
    req = structure(await read_json_object(request, "permission"), PermissionRequest, "permission")
    saved = await _admin(request).create_permission(
        _caller(request),
        req.id,
        permission_rules(req),
        name=req.name,
        description=req.description,
    )
    return JSONResponse(permission_json(saved.permissions[req.id]), status_code=201)


async def get_permission(request: Request) -> Response:
    permission = await _admin(request).permission(
        _caller(request), request.path_params["permission_id"]
    )
    return JSONResponse(permission_json(permission))


async def delete_permission(request: Request) -> Response:
    await _admin(request).delete_permission(
        _caller(request), request.path_params["permission_id"], cascade=_cascade(request)
    )
    return Response(status_code=204)


ROUTES = [
    Route(f"{PREFIX}/me", me, methods=["GET"]),
    Route(f"{PREFIX}/test", test, methods=["POST"]),
    Route(f"{PREFIX}/users", list_users, methods=["GET"]),
    Route(f"{PREFIX}/users/assign", assign_role, methods=["POST"]),
    Route(f"{PREFIX}/users/revoke", revoke_role, methods=["POST"]),
    Route(f"{PREFIX}/roles", list_roles, methods=["GET"]),
    Route(f"{PREFIX}/roles", create_role, methods=["POST"]),
    Route(f"{PREFIX}/roles/{{role_id}}", get_role, methods=["GET"]),
    Route(f"{PREFIX}/roles/{{role_id}}", delete_role, methods=["DELETE"]),
    Route(f"{PREFIX}/roles/{{role_id}}/permissions", assign_permission, methods=["POST"]),
    Route(
        f"{PREFIX}/roles/{{role_id}}/permissions/{{permission_id}}",
        revoke_permission,
        methods=["DELETE"],
    ),
    Route(f"{PREFIX}/permissions", list_permissions, methods=["GET"]),
    Route(f"{PREFIX}/permissions", create_permission, methods=["POST"]),
    Route(f"{PREFIX}/permissions/{{permission_id}}", get_permission, methods=["GET"]),
    Route(f"{PREFIX}/permissions/{{permission_id}}", delete_permission, methods=["DELETE"]),
]


# -- the API description (taco_http.openapi) ----------------------------------

_TAG = "rbac"
_MANAGE = "Needs rbac.manage."
_ROLE_ID = Param("role_id", "path", "the role's ID")
_PERMISSION_ID = Param("permission_id", "path", "the permission's ID")
_CASCADE = Param(
    "cascade", "query", "also remove it from whatever still uses it (else 409)", kind=bool
)
_IN_USE = error(
    409, "still in use (the body names its referrers), or it would lock every admin out"
)

OPERATIONS = (
    Operation(
        "GET",
        f"{PREFIX}/me",
        "The caller's subject, groups and roles",
        _TAG,
        replies=(ok(HeldRolesDoc),),
    ),
    Operation(
        "POST",
        f"{PREFIX}/test",
        "Would a subject be allowed an action on a unit, and which rule decides",
        _TAG,
        description="Without a subject, tests the caller as it is now (allowed to anyone); "
        "another subject needs rbac.manage.",
        body=Json(RbacTestRequest),
        body_required=True,
        replies=(ok(RbacTestDoc, "the decision"), *errors(400, 403)),
    ),
    Operation(
        "GET",
        f"{PREFIX}/users",
        "Every subject holding a role",
        _TAG,
        description=_MANAGE,
        replies=(ok_list(AssignmentDoc, "subjects and their roles, by subject"), *errors(403)),
    ),
    Operation(
        "POST",
        f"{PREFIX}/users/assign",
        "Give a subject a role",
        _TAG,
        description=_MANAGE,
        body=Json(AssignRoleRequest),
        body_required=True,
        replies=(ok(AssignmentChangeDoc, "assigned"), *errors(400, 403, 404, 409)),
    ),
    Operation(
        "POST",
        f"{PREFIX}/users/revoke",
        "Take a role from a subject",
        _TAG,
        description=_MANAGE,
        body=Json(AssignRoleRequest),
        body_required=True,
        replies=(
            ok(AssignmentChangeDoc, "revoked"),
            *errors(400, 403, 404),
            error(409, "it would lock every admin out"),
        ),
    ),
    Operation(
        "GET",
        f"{PREFIX}/roles",
        "Every role",
        _TAG,
        description=_MANAGE,
        replies=(ok_list(RoleDoc, "the roles, by ID"), *errors(403)),
    ),
    Operation(
        "POST",
        f"{PREFIX}/roles",
        "Create a role",
        _TAG,
        description=_MANAGE,
        body=Json(RoleRequest),
        body_required=True,
        replies=(ok(RoleChangeDoc, "created"), *errors(400, 403, 404, 409)),
    ),
    Operation(
        "GET",
        f"{PREFIX}/roles/{{role_id}}",
        "A role",
        _TAG,
        description=_MANAGE,
        params=(_ROLE_ID,),
        replies=(ok(RoleDoc), *errors(403, 404)),
    ),
    Operation(
        "DELETE",
        f"{PREFIX}/roles/{{role_id}}",
        "Delete a role",
        _TAG,
        description=_MANAGE,
        params=(_ROLE_ID, _CASCADE),
        replies=(Reply(204, "deleted"), *errors(400, 403, 404), _IN_USE),
    ),
    Operation(
        "POST",
        f"{PREFIX}/roles/{{role_id}}/permissions",
        "Give a role a permission",
        _TAG,
        description=_MANAGE,
        params=(_ROLE_ID,),
        body=Json(AssignPermissionRequest),
        body_required=True,
        replies=(ok(RoleChangeDoc, "assigned"), *errors(400, 403, 404, 409)),
    ),
    Operation(
        "DELETE",
        f"{PREFIX}/roles/{{role_id}}/permissions/{{permission_id}}",
        "Take a permission from a role",
        _TAG,
        description=_MANAGE,
        params=(_ROLE_ID, _PERMISSION_ID),
        replies=(Reply(204, "revoked"), *errors(403, 404), _IN_USE),
    ),
    Operation(
        "GET",
        f"{PREFIX}/permissions",
        "Every permission",
        _TAG,
        description=_MANAGE,
        replies=(ok_list(PermissionDoc, "the permissions, by ID"), *errors(403)),
    ),
    Operation(
        "POST",
        f"{PREFIX}/permissions",
        "Create a permission from rules",
        _TAG,
        description=_MANAGE,
        body=Json(PermissionRequest),
        body_required=True,
        replies=(ok(PermissionDoc, "created", 201), *errors(400, 403, 409)),
    ),
    Operation(
        "GET",
        f"{PREFIX}/permissions/{{permission_id}}",
        "A permission",
        _TAG,
        description=_MANAGE,
        params=(_PERMISSION_ID,),
        replies=(ok(PermissionDoc), *errors(403, 404)),
    ),
    Operation(
        "DELETE",
        f"{PREFIX}/permissions/{{permission_id}}",
        "Delete a permission",
        _TAG,
        description=_MANAGE,
        params=(_PERMISSION_ID, _CASCADE),
        replies=(Reply(204, "deleted"), *errors(400, 403, 404), _IN_USE),
    ),
)
