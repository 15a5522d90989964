"""What every request leaves behind: its line in the access log and its
count and time in the HTTP metrics (``taco_http.metrics``).

Both name the request's route by its *template* (``/v1/units/{id}/lock``):
the metrics must not grow a series per unit ID, and a template groups what
an operator compares. The template is, in order: what a dispatching handler
put in the scope under ``ROUTE_TEMPLATE_KEY`` (the units API picks an action
from the path), the Starlette route that matched, the route that would
have matched (a request refused before routing, a 401 say), else
``unmatched``. A route inside a ``Mount`` (the Terraform-Cloud-compatible
API under ``/api/v2`` and ``/tfe/api/v2``, the internal API) is named with
its mount's prefix: ``/api/v2/workspaces/{workspace_id}``. Catch-all routes
keep their parameter (``/s3/{path}``: buckets and keys are never labels).
Methods outside the known set count as ``other``.

The access log is the ``opentaco.access`` logger at INFO (probes and metric
scrapes at DEBUG, so a load balancer does not fill the log); in JSON it
carries ``http``: method, route, path, status, duration_ms, client.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taco_http.context import services_in

ROUTE_TEMPLATE_KEY = "opentaco.route"
# Where a surface that authenticates requests itself (the S3 endpoint checks
# signatures) names the kind of credential it refused, whatever the status.
AUTH_FAILURE_KEY = "opentaco.auth_failure"
UNMATCHED = "unmatched"
_QUIET = frozenset({"/healthz", "/readyz", "/metrics"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "LOCK", "UNLOCK"})
_CONVERTER = re.compile(r"\{(\w+):\w+\}")
# Where a credential is refused for what the body carries, not the header.
_BODY_CREDENTIAL = {"/v1/auth/exchange": "id_token", "/v1/auth/token": "refresh_token"}

access_log = logging.getLogger("opentaco.access")


def credential_kind(authorization: str) -> str:
    """What kind of credential an ``Authorization`` header carries, by its
    shape alone: missing, api_token, refresh_token, access_token, malformed."""
    scheme, _, value = authorization.strip().partition(" ")
    if not scheme:
        return "missing"
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return "malformed"
        user, _, password = decoded.partition(":")
        value = password or user
    elif scheme.lower() != "bearer":
        return "malformed"
    if value.startswith("otc_"):
        return "api_token"
    if value.startswith("otr_"):
        return "refresh_token"
    if value.count(".") == 2:
        return "access_token"
    return "malformed"


def _path_of(route: BaseRoute) -> str | None:
    path = getattr(route, "path", None)
    return _CONVERTER.sub(r"{\1}", path) if isinstance(path, str) else None


def _matched(routes: Sequence[BaseRoute], scope: Scope) -> str | None:
    """The template of the route Starlette's router picks for ``scope``
    (the first full match, else the first partial one: a 405), through
    mounts; ``None`` when none matches."""
    partial: tuple[BaseRoute, Scope] | None = None
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return _joined(route, {**scope, **child})
        if match is Match.PARTIAL and partial is None:
            partial = route, child
    if partial is None:
        return None
    route, child = partial
    return _joined(route, {**scope, **child})


def _joined(route: BaseRoute, scope: Scope) -> str | None:
    path = _path_of(route)
    if path is None or not isinstance(route, Mount):
        return path
    inner = _matched(route.routes, scope)
    return path + inner if inner is not None else path


class RequestTelemetry:
    """Times each HTTP request, then logs it and counts it (see the module docstring).

    It runs for every request, so the template of each of the app's own
    routes is worked out once, up front."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes
        # id() of each of the app's own routes outside mounts -> its template.
        self._own = {
            id(route): _path_of(route) or UNMATCHED
            for route in routes
            if not isinstance(route, Mount)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = services_in(scope).metrics
        started = time.perf_counter()
        status = 500  # what the server answers if the app fails before answering

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        # Routing rewrites the scope (a Mount moves its prefix to root_path):
        # what the request looked like on arrival, to find its route again.
        method = scope["method"]
        path = scope["path"]
        root_path = scope.get("root_path", "")
        metrics.requests_in_flight += 1
        try:
            await self.app(scope, receive, observed)
        finally:
            metrics.requests_in_flight -= 1
            elapsed = time.perf_counter() - started
            route = self._template(scope, method, path, root_path)
            if method not in _METHODS:
                method = "other"
            metrics.answered(route, method, status, elapsed)
            refused = scope.get(AUTH_FAILURE_KEY)
            if isinstance(refused, str):
                metrics.auth_failures.labels(refused).inc()
            elif status == 401:
                kind = _BODY_CREDENTIAL.get(scope["path"]) or credential_kind(
                    Headers(scope=scope).get("authorization", "")
                )
                metrics.auth_failures.labels(kind).inc()
            elif status == 403:
                metrics.auth_failures.labels("forbidden").inc()
            self._log(scope, route, status, elapsed)

    def _template(self, scope: Scope, method: str, path: str, root_path: str) -> str:
        chosen = scope.get(ROUTE_TEMPLATE_KEY)
        if isinstance(chosen, str):
            return chosen
        # A route of the app's own is its template; one inside a mount (or
        # none: refused before routing) is found again from the top.
        own = self._own.get(id(scope.get("route")))
        if own is not None:
            return own
        arrived = {"type": "http", "method": method, "path": path, "root_path": root_path}
        return _matched(self.routes, arrived) or UNMATCHED

    def _log(self, scope: Scope, route: str, status: int, elapsed: float) -> None:
        level = logging.DEBUG if scope["path"] in _QUIET else logging.INFO
        if not access_log.isEnabledFor(level):
            return
        client = scope.get("client")
        method = scope["method"]
        path = scope["path"]
        if not path.isprintable():
            # A decoded path may hold a newline: never let it forge a log line.
            path = path.encode("unicode_escape").decode("ascii")
        access_log.log(
            level,
            "%s %s %d %.1fms",
            method,
            path,
            status,
            elapsed * 1000,
            extra={
                "http": {
                    "method": method,
                    "route": route,
                    "path": path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "client": client[0] if client else "",
                }
            },
        )
