"""The one mapping from core errors to HTTP statuses and bodies.

Registered once on ``TacoError`` (Starlette resolves handlers along the MRO),
so a new error subclass gets the right status by inheriting from the right
base. Bodies are ``taco_adapters.wire.error_json``'s (the message, the
error's ``kind`` and its data), except where Terraform needs its own: a lock
conflict on the backend answers with the holder's LockInfo, which Terraform
parses and prints.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from taco_adapters.wire import error_json, terraform_lock_json
from taco_adapters.wire.tfe import API_VERSION, JSONAPI, errors_document
from taco_core.errors import (
    BodyTooLarge,
    Conflict,
    Forbidden,
    IdentityProviderUnavailable,
    InvalidInput,
    LockConflict,
    NotConfigured,
    NotFound,
    StateRejected,
    StorageUnavailable,
    TacoError,
    Unauthenticated,
)
from taco_http.tfe.paths import is_api_path

log = logging.getLogger("opentaco.http")

AUTH_CHALLENGES = ('Bearer realm="opentaco"', 'Basic realm="opentaco", charset="UTF-8"')

# Most specific first.
STATUS_BY_ERROR: tuple[tuple[type[TacoError], int], ...] = (
    (BodyTooLarge, 413),
    (InvalidInput, 400),
    (NotFound, 404),
    (LockConflict, 423),
    (Conflict, 409),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (StorageUnavailable, 503),
    (NotConfigured, 501),
    (IdentityProviderUnavailable, 502),
)


def status_for(exc: TacoError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


def _log_refusal(request: Request, exc: StateRejected | LockConflict) -> None:
    """A refused write is worth an operator's attention: its unit, its reason
    and, for the clobber guard, the quarantined version that kept it. A lock
    request that finds the lock taken is ordinary contention (Terraform
    retries it): that is only INFO."""
    contention = isinstance(exc, LockConflict) and (
        request.method == "LOCK" or request.url.path.endswith("/lock")
    )
    log.log(
        logging.INFO if contention else logging.WARNING,
        "%s %s refused: %s",
        request.method,
        request.url.path,
        exc.message,
    )


def is_backend(request: Request) -> bool:
    return request.url.path.startswith("/v1/backend/")


def is_tfe(request: Request) -> bool:
    """Requests to the Terraform-Cloud-compatible API, whose errors Terraform
    reads as JSON:API (``{"errors": [{"status", "title", "detail"}]}``)."""
    return is_api_path(request.url.path)


def tfe_status_for(exc: TacoError) -> int:
    """Statuses on the TFE API: a lock conflict is 409 (Terraform prints its
    lock info and retries under ``-lock-timeout``; 423 it neither), and bad
    input is 422 (Unprocessable Entity), as Terraform Cloud answers."""
    if isinstance(exc, LockConflict):
        return 409
    if isinstance(exc, InvalidInput) and not isinstance(exc, BodyTooLarge):
        return 422
    return status_for(exc)


def jsonapi_error(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    """A JSON:API error answer; the title is the status's phrase."""
    title = (
        HTTPStatus(status).phrase.lower() if status in HTTPStatus._value2member_map_ else "error"
    )
    return JSONResponse(
        errors_document(status, title, detail),
        status_code=status,
        media_type=JSONAPI,
        headers={"TFP-API-Version": API_VERSION, **(headers or {})},
    )


# What a caller who has not authenticated learns of a storage failure. The
# full message names the endpoint, the bucket, the key layout and, while a
# credential is looked up, its hash: it goes to the log only.
STORAGE_UNAVAILABLE = "the storage is unavailable; try again later (the service log has details)"


def is_authenticated(request: Request) -> bool:
    """Whether ``AuthMiddleware`` accepted the caller (always, with auth disabled)."""
    return "principal" in request.scope.get("state", {})


async def taco_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TacoError)
    status = status_for(exc)
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    elif isinstance(exc, (StateRejected, LockConflict)):
        _log_refusal(request, exc)
    if isinstance(exc, LockConflict) and is_backend(request):
        return JSONResponse(terraform_lock_json(exc.holder), status_code=status)
    body = error_json(exc)
    if isinstance(exc, StorageUnavailable) and not is_authenticated(request):
        body["error"] = STORAGE_UNAVAILABLE
    if is_tfe(request):
        return jsonapi_error(tfe_status_for(exc), body["error"])
    response = JSONResponse(body, status_code=status)
    if isinstance(exc, Unauthenticated):
        # RFC 9110: a 401 names the schemes that would work. Both do here.
        for challenge in AUTH_CHALLENGES:
            response.headers.append("WWW-Authenticate", challenge)
    return response


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=headers)
    if is_tfe(request):
        return jsonapi_error(exc.status_code, str(exc.detail), headers)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=headers)


async def client_gone(request: Request, exc: Exception) -> Response:
    # The client hung up (or was dropped for stalling) mid-request: nobody is
    # there to answer, and it is not the service's failure.
    log.debug("%s %s: the client disconnected", request.method, request.url.path)
    return Response(status_code=400)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    if is_tfe(request):
        return jsonapi_error(500, "internal server error; the server's log says more")
    return JSONResponse({"error": "internal server error"}, status_code=500)


EXCEPTION_HANDLERS = {
    TacoError: taco_error,
    HTTPException: http_error,
    ClientDisconnect: client_gone,
    Exception: unexpected_error,
}
