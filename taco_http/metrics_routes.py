"""``GET /metrics``: the process's metrics (``taco_http.metrics``) in
Prometheus' text format.

Who may read them is a setting (``OPENTACO_METRICS``): ``public`` (the
default; like the probes, for a scraper inside the network), ``auth`` (any
valid credential) or ``off`` (404). The numbers say how busy the service is
and how often credentials fail, never which units or who.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from taco_http.context import services_of
from taco_http.operations import Operation, Reply, Text, error


async def metrics_endpoint(request: Request) -> Response:
    services = services_of(request)
    if services.settings.metrics == "off":
        raise HTTPException(404, "metrics are off on this server (OPENTACO_METRICS=off)")
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)


OPERATIONS = (
    Operation(
        "GET",
        "/metrics",
        "Prometheus metrics of this process",
        "service",
        description="Public like the probes unless OPENTACO_METRICS=auth (then a credential "
        "is needed) or off (404). Each replica serves its own.",
        replies=(
            Reply(200, "the metrics, Prometheus text format", Text(CONTENT_TYPE_LATEST)),
            error(404, "metrics are off on this server"),
        ),
        auth_optional=True,
    ),
)
