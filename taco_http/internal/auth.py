"""The internal API's webhook authentication, as an ASGI middleware.

A UI backend calls with ``Authorization: Bearer <OPENTACO_ENABLE_INTERNAL_ENDPOINTS>``
(compared in constant time; absent or malformed is 401, wrong is 403) and
names its user: ``X-User-ID`` (required, the identity provider's subject),
``X-Email``, and ``X-Org-ID`` (the organization to act in: its external ID,
ID or name; ``default`` when absent). The user becomes the request's
principal: kind user, that subject and email, and the group
``org:<organization name>`` when the organization is known.
"""

from __future__ import annotations

import hmac
import re

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from taco_core.auth import Principal, PrincipalKind
from taco_core.directory import find_organization
from taco_core.errors import Forbidden, InvalidInput, TacoError, Unauthenticated
from taco_http.context import services_in
from taco_http.errors import taco_error

ORG_HEADER_KEY = "opentaco.internal.org"
DEFAULT_ORG = "default"
_ORG_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_\- :.]*")
_MAX_HEADER = 255


def org_identifier_of(request: Request) -> str:
    """The organization the caller named in ``X-Org-ID`` (checked by the middleware)."""
    return str(request.scope.get(ORG_HEADER_KEY, DEFAULT_ORG))


def _header(request: Request, name: str) -> str:
    value = request.headers.get(name, "").strip()
    if len(value) > _MAX_HEADER or not value.isprintable():
        raise InvalidInput(f"header {name} must be printable, at most {_MAX_HEADER} characters")
    return value


async def webhook_principal(request: Request, secret: str) -> Principal:
    """The UI's user behind a request, or the error to answer."""
    scheme, _, sent = request.headers.get("authorization", "").strip().partition(" ")
    sent = sent.strip()
    if scheme.lower() != "bearer" or not sent:
        raise Unauthenticated(
            "the internal API needs 'Authorization: Bearer <OPENTACO_ENABLE_INTERNAL_ENDPOINTS>'"
        )
    if not hmac.compare_digest(sent.encode("utf-8", "replace"), secret.encode()):
        raise Forbidden("invalid webhook secret")
    subject = _header(request, "x-user-id")
    if not subject:
        raise InvalidInput("the internal API needs the header X-User-ID (the user's subject)")
    org = _header(request, "x-org-id") or DEFAULT_ORG
    if not _ORG_ID.fullmatch(org):
        raise InvalidInput(
            "header X-Org-ID must start with a letter or digit and hold only letters, digits, "
            "'_', '-', ' ', ':' and '.'"
        )
    request.scope[ORG_HEADER_KEY] = org
    groups: tuple[str, ...] = ()
    found = find_organization(await services_in(request.scope).directory.directory(), org)
    if found is not None:
        groups = (f"org:{found.name}",)
    return Principal(
        subject=subject,
        kind=PrincipalKind.USER,
        email=_header(request, "x-email"),
        groups=groups,
    )


class WebhookAuth:
    """Checks the webhook secret and sets the principal for the internal routes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        secret = services_in(scope).settings.internal_endpoints_secret
        try:
            principal = await webhook_principal(request, secret)
        except TacoError as exc:
            response = await taco_error(request, exc)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
