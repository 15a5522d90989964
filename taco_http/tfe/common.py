"""What every Terraform-Cloud-compatible handler shares: JSON:API responses
with the headers Terraform reads, the caller, and workspaces from paths.

The API is mounted twice (``/api/v2`` and the reference's ``/tfe/api/v2``);
URLs handed out keep the prefix the request came through, on the public base
URL (``taco_http.public_url``).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from taco_adapters.wire.tfe import API_VERSION, JSONAPI
from taco_adapters.wire.tfe_ids import Workspace, parse_workspace_id
from taco_core.caller import Caller
from taco_core.errors import InvalidUnitId, NotFound
from taco_core.model import Surface, Unit
from taco_core.service import StateService
from taco_core.unit_id import parse_unit_id
from taco_http.auth import caller_of
from taco_http.context import services_of
from taco_http.public_url import public_base_url

# Read by Terraform from every response of the API (the ping's matter most:
# ``cloud {}`` refuses a host below API version 2.5).
TFE_HEADERS = {
    "TFP-API-Version": API_VERSION,
    "TFP-AppName": "Terraform Enterprise",
    "X-TFE-Version": "opentaco",
}

_VERSION = re.compile(r"\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?")


def jsonapi(doc: Any, status: int = 200) -> Response:
    """A JSON:API document with the API's headers."""
    return JSONResponse(doc, status_code=status, media_type=JSONAPI, headers=TFE_HEADERS)


def no_content() -> Response:
    return Response(status_code=204, headers=TFE_HEADERS)


def caller(request: Request) -> Caller:
    return caller_of(request, Surface.TFE)


def states(request: Request) -> StateService:
    return services_of(request).states


def api_base(request: Request) -> str:
    """The absolute URL of the API root this request came through."""
    root = str(request.scope.get("root_path", "")) or "/api/v2"
    return public_base_url(request) + root


def terraform_version(request: Request) -> str:
    """The client's Terraform version (its ``Terraform-Version`` header), which
    workspaces report as theirs so Terraform's version checks pass; "latest"
    for other clients."""
    sent = request.headers.get("terraform-version", "")
    return sent if _VERSION.fullmatch(sent) else "latest"


def workspace_named(organization: str, name: str) -> Workspace:
    """Workspace ``name`` of ``organization`` (unit ``organization/name``);
    ``NotFound`` when they cannot form a unit ID."""
    try:
        parse_unit_id(f"{organization}/{name}")
    except InvalidUnitId:
        raise NotFound(f"workspace {name!r} not found in organization {organization!r}") from None
    if "/" in name or "/" in organization:
        raise NotFound(f"workspace {name!r} not found in organization {organization!r}")
    return Workspace(organization, name)


def organization_of(request: Request) -> str:
    """The ``{org}`` of the path, if it can be an organization (a unit-ID
    segment); ``NotFound`` otherwise."""
    name = str(request.path_params["org"])
    try:
        parse_unit_id(name)
    except InvalidUnitId:
        raise NotFound(f"organization {name!r} not found") from None
    return name


def workspace_of(request: Request) -> Workspace:
    """The workspace a path names, by ``{org}/workspaces/{name}`` or by ``{ws_id}``."""
    if "ws_id" in request.path_params:
        return parse_workspace_id(str(request.path_params["ws_id"]))
    return workspace_named(organization_of(request), str(request.path_params["name"]))


async def unit_of(request: Request, ws: Workspace) -> Unit:
    """The workspace's unit (``UnitNotFound`` when it does not exist)."""
    return await states(request).get_unit(caller(request), ws.unit_id)
