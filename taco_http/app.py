"""The Starlette app factory: routes, middleware, error handlers, lifespan.

The lifespan opens the adapters (unless the caller hands them in already
open, as ``opentacosvc`` does to report start-up failures cleanly, and tests
do), builds the ``Services`` over them (``taco_http.wiring``) inside the event
loop that serves requests, and yields them as the app's state, where
handlers find them with ``taco_http.context.services_of`` (beside the web
UI's sessions, ``taco_http.ui``). Whoever opens the adapters closes them.

Every route module declares the operations it serves (``OPERATIONS``,
``taco_http.operations``); ``OPERATIONS`` here gathers them for the API
description at ``/v1/openapi.json``. The surfaces with protocols of their
own (``other_protocols``: the Terraform-Cloud-compatible API, the S3
endpoint, the web UI, the internal API) are left out of it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from taco_http import (
    audit_routes,
    auth_routes,
    backend,
    graph_routes,
    health,
    metrics_routes,
    openapi,
    rbac_routes,
    ui,
    units,
)
from taco_http.auth import AuthMiddleware
from taco_http.bootstrap import bootstrap
from taco_http.context import STATE_KEY
from taco_http.errors import EXCEPTION_HANDLERS
from taco_http.housekeeping import maintain_forever, maintain_once
from taco_http.internal import routes as internal
from taco_http.methods import AnyMethod, by_method
from taco_http.operations import Operation
from taco_http.request_id import RequestIdMiddleware
from taco_http.s3_endpoint import S3Endpoint
from taco_http.settings import Settings
from taco_http.telemetry import RequestTelemetry
from taco_http.tfe import routes as tfe
from taco_http.tfe.paths import API_PREFIXES
from taco_http.wiring import Adapters, open_adapters, open_services

BACKEND_METHODS = ["GET", "POST", "PUT", "DELETE", "LOCK", "UNLOCK"]

OPERATIONS: tuple[Operation, ...] = (
    *health.OPERATIONS,
    *openapi.OPERATIONS,
    *metrics_routes.OPERATIONS,
    *auth_routes.OPERATIONS,
    *rbac_routes.OPERATIONS,
    *backend.OPERATIONS,
    *units.OPERATIONS,
    *audit_routes.OPERATIONS,
    *graph_routes.OPERATIONS,
)


class TacoApp(Starlette):
    """Starlette with the request's ID and telemetry outside everything,
    Starlette's own error middleware included: a 500 then carries the ID,
    and is counted and logged like any answer."""

    def build_middleware_stack(self) -> ASGIApp:
        inner = super().build_middleware_stack()
        return RequestIdMiddleware(RequestTelemetry(inner, self.routes))


def create_app(settings: Settings | None = None, *, adapters: Adapters | None = None) -> Starlette:
    """The service for ``settings``, on ``adapters`` when given (the caller
    then owns and closes them), else on the ones the settings name."""
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        async with contextlib.AsyncExitStack() as stack:
            opened = adapters
            if opened is None:
                opened = await stack.enter_async_context(open_adapters(settings))
            services = await stack.enter_async_context(open_services(settings, opened))
            await bootstrap(services)
            await maintain_once(services)
            async with anyio.create_task_group() as tg:
                tg.start_soon(maintain_forever, services)
                await tg.start(services.graph.run)
                if services.webhooks is not None:
                    await tg.start(services.webhooks.run)
                yield {STATE_KEY: services, ui.SESSIONS_KEY: ui.SessionStore()}
                tg.cancel_scope.cancel()

    # The router tries routes in order: the ones every Terraform run calls
    # come first (no other route's path overlaps theirs).
    routes: list[BaseRoute] = [
        Route("/v1/backend/{unit_id:path}", backend.backend, methods=BACKEND_METHODS),
        Route(
            "/v1/units",
            by_method({"GET": units.list_units, "POST": units.create_unit}),
            methods=["GET", "POST"],
        ),
        # Every method: which ones an ID's action serves is the action's to say (405).
        Route("/v1/units/{rest:path}", AnyMethod(units.unit_route)),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", metrics_routes.metrics_endpoint, methods=["GET"]),
        Route("/v1/openapi.json", openapi.endpoint(OPERATIONS), methods=["GET"]),
        Route("/v1/info", health.info, methods=["GET"]),
        Route("/v1/auth/config", auth_routes.config, methods=["GET"]),
        Route("/v1/auth/exchange", auth_routes.exchange, methods=["POST"]),
        Route("/v1/auth/token", auth_routes.refresh, methods=["POST"]),
        Route("/v1/auth/logout", auth_routes.logout, methods=["POST"]),
        Route("/v1/auth/me", auth_routes.me, methods=["GET"]),
        Route("/v1/auth/jwks", auth_routes.jwks, methods=["GET"]),
        Route("/v1/auth/issue-s3-creds", auth_routes.issue_s3_credentials, methods=["POST"]),
        Route(
            "/v1/auth/tokens",
            by_method({"GET": auth_routes.list_tokens, "POST": auth_routes.create_token}),
            methods=["GET", "POST"],
        ),
        Route("/v1/auth/tokens/{token_id}", auth_routes.revoke_token, methods=["DELETE"]),
        *rbac_routes.ROUTES,
        Route("/v1/audit", audit_routes.audit, methods=["GET"]),
        Route("/v1/status", graph_routes.statuses, methods=["GET"]),
        Route("/v1/graph", graph_routes.graph, methods=["GET"]),
    ]
    return TacoApp(
        routes=[*routes, *other_protocols(settings)],
        lifespan=lifespan,
        middleware=[Middleware(AuthMiddleware)],
        exception_handlers=EXCEPTION_HANDLERS,
    )


def other_protocols(settings: Settings) -> list[BaseRoute]:
    """The routes that speak protocols of their own, which the API
    description (``OPERATIONS``) leaves out on purpose: the
    Terraform-Cloud-compatible API (JSON:API, as Terraform's ``remote`` and
    ``cloud`` backends expect it) with Terraform's discovery and login, the
    S3 endpoint (S3's XML protocol, signed with SigV4), the built-in web UI
    (HTML pages, ``taco_http.ui``), and the internal API for an external UI
    (only with ``OPENTACO_ENABLE_INTERNAL_ENDPOINTS``)."""
    s3_endpoint = S3Endpoint()
    routes: list[BaseRoute] = [
        *tfe.ROUTES,
        *(Mount(prefix, routes=tfe.API_ROUTES) for prefix in API_PREFIXES),
        # Every method: S3's own errors answer the ones it does not serve.
        Route("/s3", s3_endpoint),
        Route("/s3/{path:path}", s3_endpoint),
        *ui.ROUTES,
    ]
    if settings.internal_endpoints_secret:
        routes.append(
            Mount(internal.PREFIX, routes=internal.ROUTES, middleware=internal.MIDDLEWARE)
        )
    return routes
