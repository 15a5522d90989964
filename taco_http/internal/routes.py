"""The internal API's routes, under ``/internal/api`` (see the package docstring).

Organizations: ``POST /orgs`` (201), ``POST /orgs/sync`` (201 created, then
200 existing: idempotent), ``GET /orgs``, ``GET /orgs/{org_id}``. Users of
the organization named by ``X-Org-ID``: ``POST /users`` (201 new, 200
known), ``GET /users``, ``GET /users/{subject}``. Units of that
organization: the ``/v1/units`` API, limited to unit IDs under
``<organization name>/`` (anything else is not found). An organization
nobody synced is 404 with a hint to sync it, never a 5xx.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from taco_adapters.wire import (
    CreateUnitRequest,
    created_unit_json,
    principal_json,
    structure,
    units_json,
)
from taco_adapters.wire.directory import (
    OrganizationRequest,
    UserRequest,
    organization_json,
    organizations_json,
    user_json,
    users_json,
)
from taco_core.caller import Caller
from taco_core.directory import Organization
from taco_core.errors import InvalidInput
from taco_core.model import Surface
from taco_core.unit_id import parse_user_unit_id
from taco_http import units
from taco_http.auth import caller_of, principal_of
from taco_http.body import read_json_object
from taco_http.context import services_of
from taco_http.internal.auth import WebhookAuth, org_identifier_of

PREFIX = "/internal/api"


def _caller(request: Request) -> Caller:
    return caller_of(request, Surface.INTERNAL)


async def _organization(request: Request) -> Organization:
    """The organization ``X-Org-ID`` names; ``OrganizationNotFound`` (404,
    with the hint to sync it) when nobody synced it."""
    return await services_of(request).directory.organization(org_identifier_of(request))


# -- organizations ---------------------------------------------------------------------


async def create_org(request: Request) -> Response:
    req = structure(
        await read_json_object(request, "organization"), OrganizationRequest, "organization"
    )
    org = await services_of(request).directory.create_organization(
        _caller(request), req.name, req.display_name, req.external_org_id
    )
    return JSONResponse(organization_json(org), status_code=201)


async def sync_org(request: Request) -> Response:
    req = structure(
        await read_json_object(request, "organization"), OrganizationRequest, "organization"
    )
    if not (req.name and req.display_name and req.external_org_id):
        raise InvalidInput("syncing an organization needs name, display_name and external_org_id")
    org, created = await services_of(request).directory.sync_organization(
        _caller(request), req.name, req.display_name, req.external_org_id
    )
    return JSONResponse(
        {"status": "created" if created else "existing", "organization": organization_json(org)},
        status_code=201 if created else 200,
    )


async def list_orgs(request: Request) -> Response:
    return JSONResponse(organizations_json(await services_of(request).directory.organizations()))


async def show_org(request: Request) -> Response:
    org = await services_of(request).directory.organization(str(request.path_params["org_id"]))
    return JSONResponse(organization_json(org))


# -- users -------------------------------------------------------------------------------


async def add_user(request: Request) -> Response:
    org = await _organization(request)
    req = structure(await read_json_object(request, "user"), UserRequest, "user")
    user, created = await services_of(request).directory.add_user(
        _caller(request), org, req.subject, req.email
    )
    return JSONResponse(user_json(user), status_code=201 if created else 200)


async def list_users(request: Request) -> Response:
    org = await _organization(request)
    return JSONResponse(users_json(await services_of(request).directory.users(org)))


async def show_user(request: Request) -> Response:
    org = await _organization(request)
    user = await services_of(request).directory.user(org, str(request.path_params["subject"]))
    return JSONResponse(user_json(user))


# -- units ---------------------------------------------------------------------------------


def _namespace(org: Organization) -> str:
    return f"{org.name}/"


async def list_units(request: Request) -> Response:
    """The organization's units; ``?prefix=`` (a full unit-ID prefix) narrows them."""
    namespace = _namespace(await _organization(request))
    prefix = request.query_params.get("prefix", "")
    if prefix.startswith(namespace):
        effective = prefix
    elif namespace.startswith(prefix):
        effective = namespace
    else:
        return JSONResponse(units_json([]))
    found = await services_of(request).states.list_units(_caller(request), effective)
    return JSONResponse(units_json(found))


async def create_unit(request: Request) -> Response:
    """A unit of the organization: its ID must start with ``<organization name>/``."""
    namespace = _namespace(await _organization(request))
    req = structure(await read_json_object(request, "request body"), CreateUnitRequest, "unit")
    unit_id = parse_user_unit_id(req.id)
    if not unit_id.startswith(namespace):
        raise InvalidInput(
            f"unit ID {req.id!r} is outside this organization: it must start with {namespace!r}"
        )
    unit = await services_of(request).states.create_unit(_caller(request), unit_id, req.labels)
    return JSONResponse(created_unit_json(unit), status_code=201)


async def unit_route(request: Request) -> Response:
    """``/units/<id>[/<action>]`` as under ``/v1/units``, inside the organization."""
    namespace = _namespace(await _organization(request))
    return await units.dispatch(request, f"{PREFIX}/units/", namespace, Surface.INTERNAL)


# -- the caller and the API itself ----------------------------------------------------------


async def me(request: Request) -> Response:
    principal = principal_of(request)
    return JSONResponse(
        {
            "user_id": principal.subject,
            "email": principal.email,
            "org_id": org_identifier_of(request),
            "principal": principal_json(principal),
        }
    )


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "type": "internal", "auth_type": "webhook"})


ROUTES: list[BaseRoute] = [
    Route("/health", health, methods=["GET"]),
    Route("/me", me, methods=["GET"]),
    Route("/orgs", create_org, methods=["POST"]),
    Route("/orgs", list_orgs, methods=["GET"]),
    Route("/orgs/sync", sync_org, methods=["POST"]),
    Route("/orgs/{org_id}", show_org, methods=["GET"]),
    Route("/users", add_user, methods=["POST"]),
    Route("/users", list_users, methods=["GET"]),
    Route("/users/{subject}", show_user, methods=["GET"]),
    Route("/units", list_units, methods=["GET"]),
    Route("/units", create_unit, methods=["POST"]),
    Route("/units/{rest:path}", unit_route, methods=["GET", "POST", "PUT", "DELETE"]),
]

MIDDLEWARE = [Middleware(WebhookAuth)]
