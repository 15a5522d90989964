"""Answers for what this server does not do, in shapes Terraform prints.

Remote runs (configuration versions, runs, plans, applies) are out of scope:
they get 422 saying to use local execution. Any other unknown path under the
API gets a JSON:API 404, never a 5xx (go-tfe retries those for minutes), and
is logged at WARNING with its method and path, so a client needing something
missing shows up in the log.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from taco_adapters.wire.tfe import errors_document
from taco_http.tfe.common import jsonapi

log = logging.getLogger("opentaco.tfe")

REMOTE_EXECUTION = (
    "This server stores Terraform state only and does not run plans or applies. "
    'Use local execution: the workspace\'s execution mode is "local", so run Terraform '
    "where you are (terraform plan / apply), with this server as its backend."
)


async def remote_execution(request: Request) -> Response:
    """Configuration versions and runs: 422, use local execution."""
    return jsonapi(errors_document(422, "remote execution is not supported", REMOTE_EXECUTION), 422)


async def not_implemented(request: Request) -> Response:
    """Anything else under the API: a JSON:API 404, logged."""
    log.warning("TFE endpoint not implemented: %s %s", request.method, request.url.path)
    return jsonapi(
        errors_document(
            404,
            "not found",
            f"{request.method} {request.url.path} is not implemented by OpenTaco",
        ),
        404,
    )
