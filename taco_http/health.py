"""Liveness and readiness probes (never authenticated)."""

from __future__ import annotations

import logging

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from taco_adapters.wire import InfoDoc, ProbeDoc
from taco_core.errors import StorageUnavailable
from taco_http.context import services_of
from taco_http.operations import Json, Operation, Reply, ok
from taco_http.wiring import storage_info


async def healthz(request: Request) -> Response:
    """The process is up and serving HTTP."""
    return JSONResponse({"status": "ok", "service": "opentaco"})


# Probes time out after about a second by default (Kubernetes), and a store's
# client may retry for longer; answering 503 in time beats answering late.
READY_DEADLINE_SECONDS = 0.8

log = logging.getLogger("opentaco.http")


async def readyz(request: Request) -> Response:
    """The store answers a round trip in time: a load balancer may send traffic."""
    error = ""
    with anyio.move_on_after(READY_DEADLINE_SECONDS) as deadline:
        try:
            await services_of(request).states.ping()
        except StorageUnavailable as exc:
            error = exc.message
    if deadline.cancelled_caught:
        error = f"the store did not answer within {READY_DEADLINE_SECONDS}s"
    if error:
        # Probes are not authenticated: the details (endpoint, bucket) go to the log.
        log.warning("not ready: %s", error)
        return JSONResponse(
            {"status": "unavailable", "service": "opentaco", "error": "the store does not answer"},
            status_code=503,
        )
    return JSONResponse({"status": "ready", "service": "opentaco"})


async def info(request: Request) -> Response:
    """Which storage this server uses (the reference's ``/v1/info``)."""
    return JSONResponse({"storage": storage_info(services_of(request).settings)})


OPERATIONS = (
    Operation(
        "GET",
        "/healthz",
        "Liveness: the process serves HTTP",
        "service",
        replies=(ok(ProbeDoc, "the process is up"),),
        public=True,
    ),
    Operation(
        "GET",
        "/readyz",
        "Readiness: the storage answers in time",
        "service",
        replies=(
            ok(ProbeDoc, "the store answered a round trip"),
            Reply(503, "the store did not answer (in time)", Json(ProbeDoc)),
        ),
        public=True,
    ),
    Operation(
        "GET",
        "/v1/info",
        "Which storage this server uses",
        "service",
        replies=(ok(InfoDoc),),
    ),
)
