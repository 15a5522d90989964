"""``terraform login``: OAuth 2.0 authorization code with PKCE, through the
OIDC provider ``taco login`` uses, ending in an OpenTaco API token.

Terraform opens ``/oauth/authorization`` (discovery's ``login.v1``) with its
PKCE challenge, its ``state`` and a ``redirect_uri`` on a loopback port. We
send the browser on to the provider, as a second OAuth client hop with our
own PKCE pair; the provider returns to ``/oauth/callback``, where we redeem
its code for an ID token, verify it (the same checks as ``taco login``'s
exchange) and send the browser back to Terraform with our own short-lived
authorization code. Terraform then posts that code and its PKCE verifier to
``/oauth/token`` and receives an API token acting as the user (RBAC applies
to it as to them; ``taco token revoke`` ends it).

Nothing is stored on the way: our ``state`` and our code are sealed with the
installation's ``terraform-login`` key (``taco_http.tfe.sealed``), carry
their expiry, and are bound to Terraform's redirect URI and challenge. Our
PKCE verifier and the ID token's nonce are derived from a random value in the
sealed state with that key, so nobody who only sees the URLs can compute
them. The provider must allow ``<public base URL>/oauth/callback`` as a
redirect URI of the client whose ID is ``OPENTACO_AUTH_CLIENT_ID``.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import attrs
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from taco_adapters.identity import OidcIdTokenVerifier
from taco_core.auth import principal_from_id_claims
from taco_core.errors import IdentityProviderUnavailable, TacoError, Unauthenticated
from taco_core.model import Surface
from taco_http.auth import caller_of
from taco_http.body import SMALL_BODY, read_body
from taco_http.context import services_of
from taco_http.public_url import public_base_url
from taco_http.tfe.discovery import LOGIN_CLIENT_ID, LOGIN_PORTS
from taco_http.tfe.sealed import (
    BrokenSeal,
    derive,
    principal_doc,
    principal_from_doc,
    s256,
    seal,
    unseal,
)

# How long a person has to get through the provider's login, and how long
# Terraform has to redeem our code (it does so at once).
STATE_TTL = timedelta(minutes=10)
CODE_TTL = timedelta(minutes=2)
SCOPES = "openid profile email"
TOKEN_NAME = "terraform login"

_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_LOOPBACK_NAMES = {"localhost"}
_MAX_STATE = 512


class LoginRefused(ValueError):
    """The login request is malformed; shown to the person in the browser."""


def _page(status: int, message: str) -> Response:
    return PlainTextResponse(f"terraform login: {message}\n", status_code=status)


def _oidc(request: Request) -> OidcIdTokenVerifier | None:
    return services_of(request).oidc


def _key(request: Request) -> bytes:
    return services_of(request).keys.terraform_login


def _now(request: Request) -> datetime:
    return services_of(request).states.clock.now()


def _callback_url(request: Request) -> str:
    return f"{public_base_url(request)}/oauth/callback"


def check_redirect_uri(uri: str) -> str:
    """Terraform's listener: ``http`` on a loopback host, a port of
    ``login.v1``'s range, and a path; ``LoginRefused`` for anything else (we
    must never send a code elsewhere)."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        raise LoginRefused("redirect_uri is not a URL") from None
    host = (parts.hostname or "").lower()
    loopback = host in _LOOPBACK_NAMES
    if not loopback:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
    low, high = LOGIN_PORTS
    if (
        parts.scheme != "http"
        or not loopback
        or port is None
        or not low <= port <= high
        or not parts.path
        or parts.username is not None
        or parts.password is not None
        or parts.fragment
    ):
        raise LoginRefused(
            f"redirect_uri must be http://localhost:<{low}-{high}>/<path>, Terraform's own listener"
        )
    return uri


def _authorization_params(request: Request) -> dict[str, str]:
    query = request.query_params
    if query.get("client_id") != LOGIN_CLIENT_ID:
        raise LoginRefused(f"unknown client_id; Terraform sends {LOGIN_CLIENT_ID!r}")
    if query.get("response_type") != "code":
        raise LoginRefused("response_type must be code")
    if query.get("code_challenge_method") != "S256":
        raise LoginRefused("PKCE is required: code_challenge_method must be S256")
    challenge = query.get("code_challenge", "")
    if not _CHALLENGE.fullmatch(challenge):
        raise LoginRefused("code_challenge must be an S256 challenge (43 base64url characters)")
    state = query.get("state", "")
    if not state or len(state) > _MAX_STATE or not state.isprintable():
        raise LoginRefused("state is required (printable, at most 512 characters)")
    return {
        "redirect_uri": check_redirect_uri(query.get("redirect_uri", "")),
        "state": state,
        "challenge": challenge,
    }


async def authorization(request: Request) -> Response:
    """``GET /oauth/authorization``: check Terraform's request and send the
    browser to the identity provider."""
    oidc = _oidc(request)
    if oidc is None:
        return _page(
            404,
            "this server has no OIDC login; create an API token (taco token create) and "
            "paste it instead, see /app/settings/tokens",
        )
    try:
        wanted = _authorization_params(request)
    except LoginRefused as exc:
        return _page(400, str(exc))
    endpoint = (await oidc.endpoints()).get("authorization_endpoint", "")
    if not endpoint:
        return _page(502, "the identity provider's authorization endpoint is unknown")
    key = _key(request)
    nonce = secrets.token_urlsafe(16)
    state = seal(key, "state", {**wanted, "nonce": nonce}, now=_now(request), ttl=STATE_TTL)
    params = {
        "response_type": "code",
        "client_id": oidc.settings.client_id,
        "redirect_uri": _callback_url(request),
        "scope": SCOPES,
        "state": state,
        "nonce": derive(key, "id-token-nonce", nonce),
        "code_challenge": s256(derive(key, "pkce-verifier", nonce)),
        "code_challenge_method": "S256",
    }
    separator = "&" if "?" in endpoint else "?"
    return RedirectResponse(f"{endpoint}{separator}{urlencode(params)}", status_code=302)


async def callback(request: Request) -> Response:
    """``GET /oauth/callback``: the provider's answer; verify who logged in
    and send the browser back to Terraform with our code."""
    oidc = _oidc(request)
    if oidc is None:
        return _page(404, "this server has no OIDC login")
    query = request.query_params
    key = _key(request)
    try:
        state = unseal(key, "state", query.get("state", ""), now=_now(request))
    except BrokenSeal as exc:
        return _page(400, f"the login's state is invalid ({exc}); run terraform login again")
    if query.get("error"):
        detail = query.get("error_description", "")
        return _page(400, f"the identity provider refused the login: {query['error']} {detail}")
    code = query.get("code", "")
    if not code:
        return _page(400, "the identity provider sent no code")
    nonce = str(state.get("nonce", ""))
    try:
        id_token = await oidc.redeem_code(
            code,
            redirect_uri=_callback_url(request),
            code_verifier=derive(key, "pkce-verifier", nonce),
        )
        claims = await oidc.verify(id_token, now=_now(request))
    except Unauthenticated as exc:
        return _page(401, exc.message)
    except IdentityProviderUnavailable as exc:
        return _page(502, exc.message)
    if not hmac.compare_digest(
        str(claims.get("nonce", "")).encode(), derive(key, "id-token-nonce", nonce).encode()
    ):
        return _page(401, "the ID token is not from this login (nonce)")
    principal = principal_from_id_claims(claims)
    if not principal.subject:
        return _page(401, "the ID token names no subject ('sub')")
    ours = seal(
        key,
        "code",
        {
            "redirect_uri": state["redirect_uri"],
            "challenge": state["challenge"],
            "principal": principal_doc(principal),
        },
        now=_now(request),
        ttl=CODE_TTL,
    )
    back = str(state["redirect_uri"])
    separator = "&" if "?" in back else "?"
    target = f"{back}{separator}{urlencode({'code': ours, 'state': state['state']})}"
    return RedirectResponse(target, status_code=302)


def _oauth_error(status: int, error: str, description: str = "") -> Response:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


async def token(request: Request) -> Response:
    """``POST /oauth/token``: Terraform's code and PKCE verifier for an API token."""
    if _oidc(request) is None:
        return _oauth_error(400, "unsupported_grant_type", "this server has no OIDC login")
    raw = await read_body(request, SMALL_BODY)
    try:
        form = {k: v[-1] for k, v in parse_qs(bytes(raw).decode()).items()}
    except UnicodeDecodeError:
        return _oauth_error(400, "invalid_request", "the form is not UTF-8")
    if form.get("grant_type") != "authorization_code":
        return _oauth_error(400, "unsupported_grant_type", "only authorization_code is supported")
    if form.get("client_id") != LOGIN_CLIENT_ID:
        return _oauth_error(401, "invalid_client")
    verifier = form.get("code_verifier", "")
    if not _VERIFIER.fullmatch(verifier):
        return _oauth_error(400, "invalid_request", "code_verifier is required (RFC 7636)")
    try:
        code = unseal(_key(request), "code", form.get("code", ""), now=_now(request))
        principal = principal_from_doc(code["principal"])
    except (BrokenSeal, KeyError, TypeError) as exc:
        return _oauth_error(400, "invalid_grant", f"the code is invalid or {exc}")
    if form.get("redirect_uri") != code.get("redirect_uri"):
        return _oauth_error(400, "invalid_grant", "redirect_uri differs from the authorization's")
    if not hmac.compare_digest(s256(verifier).encode(), str(code.get("challenge")).encode()):
        return _oauth_error(400, "invalid_grant", "code_verifier does not match the challenge")
    services = services_of(request)
    ttl = services.settings.terraform_token_ttl_seconds
    try:
        # The person the provider vouched for, behind the code, makes the token.
        caller = attrs.evolve(caller_of(request, Surface.TFE), principal=principal)
        created = await services.auth.create_api_token(
            caller, TOKEN_NAME, expires_in=timedelta(seconds=ttl) if ttl else None
        )
    except TacoError as exc:
        return _oauth_error(400, "invalid_grant", exc.message)
    body: dict[str, Any] = {"access_token": created.secret, "token_type": "bearer"}
    if ttl:
        body["expires_in"] = int(ttl)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
