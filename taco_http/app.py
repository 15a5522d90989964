"""The Starlette app factory: the service's composition root.

``create_app`` wires settings, the storage adapter and the core service into
one ASGI app. The store is opened inside the event loop that serves requests
(in the lifespan) unless the caller hands one in already opened, as
``opentacosvc`` does to report start-up failures cleanly, and tests do.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.routing import Route

from taco_adapters.clock import SystemClock
from taco_core.errors import TacoError
from taco_core.ports import StateStore
from taco_core.service import StateService
from taco_http import backend, health, units
from taco_http.errors import EXCEPTION_HANDLERS
from taco_http.settings import Settings
from taco_http.stores import open_store

log = logging.getLogger("opentaco")

BACKEND_METHODS = ["GET", "POST", "PUT", "DELETE", "LOCK", "UNLOCK"]


PURGE_INTERVAL_SECONDS = 600.0


async def _purge_forever(service: StateService) -> None:
    """Remove units whose delete grace period is over, now and every few minutes.

    Idempotent, so every replica may run it; a failure is logged and retried
    at the next tick rather than taking the service down.
    """
    while True:
        await anyio.sleep(PURGE_INTERVAL_SECONDS)
        await _purge_once(service)


async def _purge_once(service: StateService) -> None:
    try:
        purged = await service.purge_expired()
    except TacoError as exc:
        log.warning("purge of deleted units failed: %s", exc.message)
        return
    for unit_id in purged:
        log.info("purged unit %s (deleted longer ago than the grace period)", unit_id)


def create_app(settings: Settings | None = None, store: StateStore | None = None) -> Starlette:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened = store if store is not None else await open_store(settings)
        service = StateService(opened, SystemClock(), settings.policy())
        app.state.service = service
        await _purge_once(service)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_purge_forever, service)
                yield
                tg.cancel_scope.cancel()
        finally:
            await opened.aclose()

    routes = [
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/v1/info", health.info, methods=["GET"]),
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
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.settings = settings
    return app
