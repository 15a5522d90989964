"""Organizations, their entitlements, and who is calling.

An organization is a namespace: every name that can be a unit-ID segment is
one, registered in the directory or not (its workspaces are the units under
``<name>/``, and RBAC decides, unit by unit, who sees and changes them). The
entitlement set is Terraform's "does this organization exist" check, and says
state storage only, so Terraform runs plans and applies locally; it and an
organization's record tell any authenticated caller nothing but that the
name is usable, so they are answered for every name. The list of
organizations is the caller's memberships in the directory.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from taco_adapters.wire.tfe import (
    account_json,
    document,
    entitlements_json,
    organization_json,
    page_of,
)
from taco_core.directory import find_organization
from taco_http.auth import principal_of
from taco_http.context import services_of
from taco_http.tfe.common import jsonapi, organization_of


async def entitlements(request: Request) -> Response:
    """``GET /organizations/{org}/entitlement-set``."""
    return jsonapi(entitlements_json(organization_of(request)))


async def show(request: Request) -> Response:
    """``GET /organizations/{org}``: the directory's record when there is one."""
    name = organization_of(request)
    found = find_organization(await services_of(request).directory.directory(), name)
    known = found if found is not None and found.name == name else None
    return jsonapi(
        document(
            organization_json(
                name,
                created=known.created_at if known else None,
                external_id=known.external_id if known else "",
            )
        )
    )


async def list_organizations(request: Request) -> Response:
    """``GET /organizations``: the directory's organizations the caller
    belongs to or created (every one while authorization is off), as
    Terraform Cloud lists a user's memberships."""
    services = services_of(request)
    if services.rbac.enabled:
        orgs = await services.directory.organizations_of(principal_of(request).subject)
    else:
        orgs = await services.directory.organizations()
    shown, meta = page_of(request.query_params).of(list(orgs))
    items = [
        organization_json(o.name, created=o.created_at, external_id=o.external_id) for o in shown
    ]
    return jsonapi(document(items, meta))


async def account(request: Request) -> Response:
    """``GET /account/details``: the principal behind the token."""
    return jsonapi(account_json(principal_of(request)))
