"""The Starlette app factory: the service's composition root.

``create_app`` wires settings, the storage adapters and the core services
(state and auth) into one ASGI app. The stores are opened inside the event
loop that serves requests (in the lifespan) unless the caller hands them in
already opened, as ``opentacosvc`` does to report start-up failures cleanly,
and tests do.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from taco_adapters.clock import SystemClock
from taco_core.errors import TacoError
from taco_core.ports import Clock, StateStore
from taco_core.service import StateService
from taco_http import auth_routes, backend, health, units
from taco_http.auth import AuthMiddleware
from taco_http.auth_setup import AuthParts, AuthStore, bootstrap, close_auth, open_auth
from taco_http.errors import EXCEPTION_HANDLERS
from taco_http.settings import Settings
from taco_http.stores import open_store

log = logging.getLogger("opentaco")

BACKEND_METHODS = ["GET", "POST", "PUT", "DELETE", "LOCK", "UNLOCK"]


MAINTENANCE_INTERVAL_SECONDS = 600.0


async def _maintain_forever(service: StateService, auth: AuthParts) -> None:
    """Housekeeping now and every few minutes: purge units whose delete grace
    period is over and refresh tokens that expired, rotate the token signing
    key when it is due and drop keys nothing valid was signed with.

    Idempotent, so every replica may run it; a failure is logged and retried
    at the next tick rather than taking the service down.
    """
    while True:
        await anyio.sleep(MAINTENANCE_INTERVAL_SECONDS)
        await _maintain_once(service, auth)


async def _maintain_once(service: StateService, auth: AuthParts) -> None:
    try:
        purged = await service.purge_expired()
        await auth.service.purge_expired()
        await auth.codec.maintain(auth.service.clock.now())
    except TacoError as exc:
        log.warning("housekeeping failed: %s", exc.message)
        return
    for unit_id in purged:
        log.info("purged unit %s (deleted longer ago than the grace period)", unit_id)


def create_app(
    settings: Settings | None = None,
    store: StateStore | None = None,
    *,
    auth_store: AuthStore | None = None,
    clock: Clock | None = None,
) -> Starlette:
    settings = settings or Settings()
    clock = clock or SystemClock()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened = store if store is not None else await open_store(settings)
        try:
            auth = await open_auth(settings, clock, auth_store)
        except BaseException:
            await opened.aclose()
            raise
        service = StateService(opened, clock, settings.policy())
        app.state.service = service
        app.state.auth = auth.service
        app.state.oidc = auth.oidc
        try:
            await bootstrap(auth, settings)
            await _maintain_once(service, auth)
            async with anyio.create_task_group() as tg:
                tg.start_soon(_maintain_forever, service, auth)
                yield
                tg.cancel_scope.cancel()
        finally:
            await close_auth(auth)
            await opened.aclose()

    routes = [
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/v1/info", health.info, methods=["GET"]),
        Route("/v1/auth/config", auth_routes.config, methods=["GET"]),
        Route("/v1/auth/exchange", auth_routes.exchange, methods=["POST"]),
        Route("/v1/auth/token", auth_routes.refresh, methods=["POST"]),
        Route("/v1/auth/logout", auth_routes.logout, methods=["POST"]),
        Route("/v1/auth/me", auth_routes.me, methods=["GET"]),
        Route("/v1/auth/jwks", auth_routes.jwks, methods=["GET"]),
        Route("/v1/auth/tokens", auth_routes.list_tokens, methods=["GET"]),
        Route("/v1/auth/tokens", auth_routes.create_token, methods=["POST"]),
        Route("/v1/auth/tokens/{token_id}", auth_routes.revoke_token, methods=["DELETE"]),
        Route("/v1/backend/{unit_id:path}", backend.backend, methods=BACKEND_METHODS),
        Route("/v1/units", units.list_units, methods=["GET"]),
        Route("/v1/units", units.create_unit, methods=["POST"]),
        Route(
            "/v1/units/{rest:path}",
            units.unit_route,
            methods=["GET", "POST", "PUT", "DELETE"],
        ),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(AuthMiddleware)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.settings = settings
    return app
