"""Authentication of every request, as a pure ASGI middleware.

Every route needs a credential except the probes and the endpoints that hand
credentials out (they could not be reached otherwise), and the S3-compatible
endpoint under ``/s3``, which checks each request's SigV4 signature itself.
A credential comes as ``Authorization: Bearer <token>`` or as HTTP Basic
with the token as the password and any user name: Terraform's ``backend
"http"`` (and ``terraform_remote_state``) can only send Basic, and sends it
only when a ``username`` is configured; a token given as the user name with
an empty password is taken too.

The web UI (``/ui/``, and ``/`` which sends browsers there) is let through:
a browser sends no such header, and ``taco_http.ui.frame`` authenticates the
UI session's credential with the same ``AuthService`` instead.

The resolved ``Principal`` is put on the request scope (``principal_of``) so
handlers pass it to the core; it is the anonymous principal only when the
operator disabled authentication.
"""

from __future__ import annotations

import base64
import binascii

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from taco_core.auth import ANONYMOUS, Principal
from taco_core.caller import Caller
from taco_core.errors import TacoError, Unauthenticated
from taco_core.model import Surface
from taco_http.context import services_in
from taco_http.errors import taco_error
from taco_http.settings import Settings
from taco_http.tfe.paths import is_public as is_public_tfe

INTERNAL_PREFIX = "/internal/api/"

PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/v1/openapi.json",
        "/v1/auth/config",
        "/v1/auth/exchange",
        "/v1/auth/token",
        "/v1/auth/logout",
        "/v1/auth/jwks",
    }
)

# The S3-compatible endpoint: every request there is authenticated by its
# SigV4 signature (``taco_http.s3_endpoint``), never by a bearer token, and a
# request the signature does not vouch for never reaches the core.
SIGNED_PREFIX = "/s3"

_MISSING = (
    "authentication required: send 'Authorization: Bearer <token>', or Basic auth with an "
    'API token as the password (Terraform: username = "opentaco", password = "<API token>")'
)


def is_ui(path: str) -> bool:
    """Whether ``path`` belongs to the web UI, which signs its sessions in itself."""
    return path in ("/", "/ui") or path.startswith("/ui/")


def principal_of(request: Request) -> Principal:
    """The authenticated caller of ``request`` (set by ``AuthMiddleware``)."""
    principal: Principal = request.scope.get("state", {}).get("principal", ANONYMOUS)
    return principal


# Where a request-ID middleware leaves the request's ID in the ASGI scope.
REQUEST_ID_KEY = "opentaco.request_id"


# Where a route that serves another API's handlers (the internal API serves
# the units API's) names the surface the request really came through.
SURFACE_KEY = "opentaco.surface"


def caller_of(request: Request, surface: Surface) -> Caller:
    """The ``Caller`` the core's use cases need for ``request``, arriving
    through ``surface`` (or the one under ``SURFACE_KEY``, when set): its
    principal, the client's address and request ID."""
    chosen = request.scope.get(SURFACE_KEY, surface)
    return caller_in(request.scope, principal_of(request), chosen)


def caller_in(scope: Scope, principal: Principal, surface: Surface) -> Caller:
    """The ``Caller`` of the request ``scope`` belongs to, acting as
    ``principal``: for surfaces that authenticate a request themselves (the
    S3 endpoint verifies signatures, not bearer tokens)."""
    client = scope.get("client")
    return Caller(
        principal,
        surface,
        origin=str(client[0]) if client else "",
        request_id=str(scope.get(REQUEST_ID_KEY, "")),
    )


def credential_of(authorization: str) -> str:
    """The token in an ``Authorization`` header value; ``Unauthenticated`` when
    there is none or the header is malformed."""
    scheme, _, value = authorization.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        return value
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("malformed Basic credentials") from None
        username, _, password = decoded.partition(":")
        token = password or username
        if token:
            return token
    if not scheme:
        raise Unauthenticated(_MISSING)
    raise Unauthenticated(
        "unsupported Authorization header: use 'Bearer <token>' or Basic with the token "
        "as the password"
    )


def _public(scope: Scope, settings: Settings) -> bool:
    """Routes that need no credential of ours: the probes, the API
    description, the endpoints that hand credentials out, the metrics unless
    ``OPENTACO_METRICS=auth``, Terraform's discovery and signed uploads, the S3
    endpoint (SigV4 signs each request), the internal API (it checks its
    own webhook secret), and the web UI (it authenticates its sessions)."""
    path: str = scope["path"]
    if path in PUBLIC_PATHS or is_public_tfe(scope["method"], path) or _signed(path):
        return True
    if path == "/metrics":
        return settings.metrics != "auth"
    if is_ui(path):
        return True
    return bool(settings.internal_endpoints_secret) and path.startswith(INTERNAL_PREFIX)


class AuthMiddleware:
    """Resolve the caller of every HTTP request, or answer 401 for the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        principal = ANONYMOUS
        services = services_in(scope)
        if not services.settings.auth_disable and not _public(scope, services.settings):
            request = Request(scope)
            try:
                credential = credential_of(request.headers.get("authorization", ""))
                principal = await services.auth.authenticate(credential)
            except TacoError as exc:
                response = await taco_error(request, exc)
                await response(scope, receive, send)
                return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def _signed(path: str) -> bool:
    return path == SIGNED_PREFIX or path.startswith(SIGNED_PREFIX + "/")
