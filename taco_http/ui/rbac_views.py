"""The access pages: who may do what (roles, permissions, assignments, for
callers allowed ``rbac.manage``), giving and taking roles, and ``rbac test``
as a form (open to everyone about themselves, as in the API).

Every read and edit is an ``RbacAdmin`` use case, which checks
``rbac.manage`` itself; a caller without it gets the 403 page from the
refusal, not a page the UI decided to hide.
"""

from __future__ import annotations

from starlette.responses import Response

from taco_core.errors import Forbidden, InvalidInput
from taco_core.rbac import ACTIONS
from taco_http.errors import status_for
from taco_http.ui.forms import read_form, text
from taco_http.ui.frame import Visit
from taco_http.ui.unit_views import unit_url

RBAC_PAGE = "/ui/rbac"


async def overview(visit: Visit) -> Response:
    policy = await visit.services.rbac_admin.policy(visit.caller)
    settings = visit.services.settings
    return visit.page(
        "rbac.html",
        nav="rbac",
        policy=policy,
        roles=sorted(policy.roles.values(), key=lambda r: r.id),
        permissions=sorted(policy.permissions.values(), key=lambda p: p.id),
        assignments=sorted(policy.assignments.items()),
        group_roles=sorted(settings.group_roles().items()),
        subject_roles=sorted(settings.subject_roles().items()),
    )


async def assign_role(visit: Visit) -> Response:
    form = await read_form(visit)
    subject = text(form.get("subject"), "subject")
    role = text(form.get("role_id"), "role")
    await visit.services.rbac_admin.assign_role(visit.caller, subject, role)
    return visit.redirect(RBAC_PAGE, f"Role {role} given to {subject}.")


async def revoke_role(visit: Visit) -> Response:
    form = await read_form(visit)
    subject = text(form.get("subject"), "subject")
    role = text(form.get("role_id"), "role")
    await visit.services.rbac_admin.revoke_role(visit.caller, subject, role)
    return visit.redirect(RBAC_PAGE, f"Role {role} taken from {subject}.")


async def test_form(visit: Visit) -> Response:
    query = visit.request.query_params
    action = text(query.get("action"), "action", limit=64)
    resource = text(query.get("resource"), "resource")
    subject = text(query.get("subject"), "subject")
    groups = [g.strip() for g in text(query.get("groups"), "groups").split(",") if g.strip()]
    admin, caller = visit.services.rbac_admin, visit.caller
    me = await admin.me(caller)
    result, error, status = None, "", 200
    if action:
        try:
            result = await admin.test(
                caller, action, resource, subject=subject or None, groups=groups
            )
        except (InvalidInput, Forbidden) as exc:
            error, status = exc.message, status_for(exc)
    return visit.page(
        "rbac_test.html",
        status=status,
        error=error,
        nav="access",
        me=me,
        actions=sorted(ACTIONS),
        action=action,
        resource=resource,
        subject=subject,
        groups=", ".join(groups),
        result=result,
        unit_url=unit_url,
    )
