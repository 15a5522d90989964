"""What every UI request goes through: its session, who it acts as, and how
its answer or failure becomes a page.

``AuthMiddleware`` lets ``/ui/`` through without an ``Authorization``
header; here the session's credential is authenticated instead, with the
same ``AuthService.authenticate`` (an expired OIDC access token is renewed
with the session's refresh token first). The principal is put where
``taco_http.auth.caller_of`` finds it, so every use case a view calls sees a
``Caller`` with ``Surface.UI`` and decides exactly as it does for the API.
A core error becomes an HTML page with the status the API would answer
(``taco_http.errors.status_for``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from attrs import define
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from taco_core.auth import ANONYMOUS, Principal
from taco_core.caller import Caller
from taco_core.errors import TacoError, Unauthenticated
from taco_core.model import Surface
from taco_core.rbac import GLOBAL_RESOURCE, Action
from taco_http.auth import caller_of
from taco_http.context import services_of
from taco_http.errors import status_for
from taco_http.ui.render import SECURITY_HEADERS, html_page
from taco_http.ui.session import COOKIE, SECURE_COOKIE, Session, SessionStore
from taco_http.wiring import Services

log = logging.getLogger("opentaco.ui")

# Where the app's lifespan keeps the UI's sessions (beside the services).
SESSIONS_KEY = "ui_sessions"
LOGIN_PATH = "/ui/login"
HOME = "/ui/"


def sessions_in(scope: Mapping[str, Any]) -> SessionStore:
    found = scope.get("state", {}).get(SESSIONS_KEY)
    if not isinstance(found, SessionStore):
        raise RuntimeError("the app's lifespan has not run: serve it with lifespan='on'")
    return found


def is_secure(request: Request, services: Services) -> bool:
    """Whether the browser reaches us over TLS (directly, through a proxy
    uvicorn trusts, or as the configured public URL says)."""
    return request.url.scheme == "https" or services.settings.public_base_url.startswith("https://")


def safe_next(raw: str | None) -> str:
    """A page to return to after signing in: one of ours, never another site."""
    if not raw or not raw.startswith(HOME) or "//" in raw or "\\" in raw or len(raw) > 2000:
        return HOME
    return raw


@define
class Visit:
    """One UI request: the services, the browser's session and who is acting.
    A view may replace ``session`` (signing in or out); the cookie follows."""

    request: Request
    services: Services
    sessions: SessionStore
    session: Session
    principal: Principal | None
    may_manage_rbac: bool = False
    may_read_audit: bool = False

    @property
    def caller(self) -> Caller:
        return caller_of(self.request, Surface.UI)

    @property
    def auth_disabled(self) -> bool:
        return self.services.settings.auth_disable

    async def may(self, action: str, resource: str = GLOBAL_RESOURCE) -> bool:
        """Whether the API would let this caller do ``action`` on ``resource``:
        only to choose which buttons to show; the use case decides again."""
        if self.principal is None:
            return False
        return (await self.services.rbac.decide(self.principal, action, resource)).allowed

    def page(self, template: str, *, status: int = 200, **context: Any) -> Response:
        """``template`` with what every page shows (who is signed in, the
        CSRF token for its forms, the auth-disabled banner, a flash message)."""
        flash, self.session.flash = self.session.flash, ""
        return html_page(
            template,
            {
                "principal": self.principal,
                "csrf_token": self.session.csrf,
                "auth_disabled": self.auth_disabled,
                "may_manage_rbac": self.may_manage_rbac,
                "may_read_audit": self.may_read_audit,
                "rbac_enabled": self.services.rbac.enabled,
                "flash": flash,
                "path": self.request.url.path,
                "nav": "",
                **context,
            },
            status=status,
        )

    def redirect(self, to: str, flash: str = "") -> Response:
        """303 to ``to`` (after a form: the browser then GETs it)."""
        if flash:
            self.session.flash = flash
        return RedirectResponse(to, status_code=303, headers=SECURITY_HEADERS)


View = Callable[[Visit], Awaitable[Response]]


def page_route(
    path: str, view: View, *, methods: Iterable[str] = ("GET",), public: bool = False
) -> Route:
    """A UI route: ``view`` runs for a signed-in caller (or anyone with
    authentication disabled); others are sent to the login page. ``public``
    views (the login pages) run for everyone."""

    async def endpoint(request: Request) -> Response:
        return await _serve(request, view, public=public)

    return Route(path, endpoint, methods=list(methods))


async def _serve(request: Request, view: View, *, public: bool) -> Response:
    services = services_of(request)
    sessions = sessions_in(request.scope)
    secure = is_secure(request, services)
    cookie = SECURE_COOKIE if secure else COOKIE
    sent = request.cookies.get(cookie, "")
    session = sessions.get(sent) if sent else None
    if session is None:
        session = sessions.new()
    visit = Visit(request, services, sessions, session, None)
    try:
        visit.principal = await _principal(visit)
        if visit.principal is None and not public:
            response = _to_login(visit)
        else:
            principal = visit.principal or ANONYMOUS
            request.scope.setdefault("state", {})["principal"] = principal
            if visit.principal is not None and services.rbac.enabled:
                visit.may_manage_rbac = await visit.may(Action.RBAC_MANAGE)
            if visit.principal is not None:
                visit.may_read_audit = await visit.may(Action.AUDIT_READ)
            response = await view(visit)
    except TacoError as exc:
        response = error_page(visit, exc)
    if visit.session.id != sent:
        response.set_cookie(
            cookie, visit.session.id, path="/", secure=secure, httponly=True, samesite="lax"
        )
    return response


async def _principal(visit: Visit) -> Principal | None:
    """Who the session signs in as; ``None`` when nobody (or no longer)."""
    services, session = visit.services, visit.session
    if services.settings.auth_disable:
        return ANONYMOUS
    if not session.signed_in:
        return None
    credential = session.credential
    try:
        return await services.auth.authenticate(credential)
    except Unauthenticated:
        if not session.refresh_token:
            _signed_out(visit, "Your session ended (the token was revoked or expired).")
            return None
    async with session.refreshing:
        if session.credential == credential:
            try:
                issued = await services.auth.refresh(session.refresh_token)
            except Unauthenticated:
                _signed_out(visit, "Your login session ended: log in again.")
                return None
            session.credential = issued.access_token
            session.refresh_token = issued.refresh_token
    try:
        return await services.auth.authenticate(session.credential)
    except Unauthenticated:
        _signed_out(visit, "Your login session ended: log in again.")
        return None


def _signed_out(visit: Visit, why: str) -> None:
    """Forget the session's sign-in; the browser gets a fresh session."""
    visit.sessions.drop(visit.session.id)
    visit.session = visit.sessions.new()
    visit.session.flash = why


def _to_login(visit: Visit) -> Response:
    request = visit.request
    if request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(
            f"{LOGIN_PATH}?{urlencode({'next': safe_next(target)}, quote_via=quote)}",
            status_code=303,
            headers=SECURITY_HEADERS,
        )
    return visit.page(
        "error.html",
        status=401,
        title="Log in first",
        message="This needs a signed-in session: log in, then try again.",
    )


def error_page(visit: Visit, exc: TacoError) -> Response:
    """A core error as a page, with the status the API would answer."""
    status = status_for(exc)
    if status >= 500:
        log.error("%s %s failed: %s", visit.request.method, visit.request.url.path, exc.message)
    titles = {400: "Not possible", 401: "Not signed in", 403: "Not allowed", 404: "Not found"}
    return visit.page(
        "error.html",
        status=status,
        title=titles.get(status, "Something went wrong"),
        message=exc.message,
    )
