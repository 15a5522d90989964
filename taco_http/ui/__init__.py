"""The built-in web UI at ``/ui/``: server-rendered pages over the same use
cases as the API.

``ROUTES`` is everything the app mounts: the pages (``frame.page_route``:
session, principal, error pages), the stylesheet (package data, in the
wheel), ``/`` sending browsers to ``/ui/``, and an HTML 404 for any other
path under ``/ui/``. No page runs a script; forms post with a CSRF token
(``forms``). See ``docs/ui.md``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from taco_core.errors import NotFound
from taco_http.ui import (
    audit_views,
    graph_views,
    history_views,
    login,
    rbac_views,
    unit_views,
)
from taco_http.ui.frame import HOME, SESSIONS_KEY, Visit, page_route
from taco_http.ui.session import SessionStore

__all__ = ["ROUTES", "SESSIONS_KEY", "SessionStore"]

_ID = "{unit_id:path}"


async def _home(request: Request) -> Response:
    return RedirectResponse(HOME, status_code=307)


async def _not_found(visit: Visit) -> Response:
    raise NotFound(f"there is no page at {visit.request.url.path}")


ROUTES: list[BaseRoute] = [
    Route("/", _home, methods=["GET"]),
    Mount("/ui/static", StaticFiles(packages=[("taco_http.ui", "static")]), name="ui-static"),
    page_route("/ui/login", login.login_form, public=True),
    page_route("/ui/login", login.token_login, methods=["POST"], public=True),
    page_route("/ui/login/oidc", login.oidc_start, public=True),
    page_route(login.CALLBACK_PATH, login.oidc_callback, public=True),
    page_route("/ui/logout", login.logout, methods=["POST"]),
    page_route("/ui/", unit_views.units_list),
    page_route("/ui/deleted", unit_views.deleted_list),
    page_route(f"/ui/units/{_ID}", unit_views.unit_page),
    page_route(f"/ui/undelete/{_ID}", unit_views.undelete, methods=["POST"]),
    page_route(f"/ui/unlock/{_ID}", unit_views.unlock_confirm),
    page_route(f"/ui/unlock/{_ID}", unit_views.unlock, methods=["POST"]),
    page_route(f"/ui/history/{_ID}", history_views.history),
    page_route(f"/ui/diff/{_ID}", history_views.diff),
    page_route(f"/ui/restore/{_ID}", history_views.restore_confirm),
    page_route(f"/ui/restore/{_ID}", history_views.restore, methods=["POST"]),
    page_route("/ui/graph", graph_views.graph_page),
    page_route("/ui/audit", audit_views.audit_page),
    page_route(rbac_views.RBAC_PAGE, rbac_views.overview),
    page_route("/ui/rbac/assign", rbac_views.assign_role, methods=["POST"]),
    page_route("/ui/rbac/revoke", rbac_views.revoke_role, methods=["POST"]),
    page_route("/ui/rbac/test", rbac_views.test_form),
    page_route("/ui/{rest:path}", _not_found, public=True),
]
