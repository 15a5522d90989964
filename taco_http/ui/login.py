"""Signing in and out of the web UI.

With an OIDC provider configured the browser logs in there: authorization
code with PKCE (S256), ``state`` and ``nonce``, as ``taco login`` does, but
with this server as the client, its callback at ``/ui/auth/callback`` (the
provider must allow that redirect URI for the configured client ID). The
code is redeemed for an ID token at the provider
(``OidcIdTokenVerifier.redeem_code``), which ``AuthService.exchange``
verifies and trades for our access and refresh tokens, exactly what the
CLI's login gets; the session keeps them. The login's secrets stay in the
browser's session, so an answer that reaches another browser, or comes back
twice, is refused.

The login form takes an API token (always: automation and break-glass
admins have one), checked by ``AuthService.authenticate``. With
authentication disabled there is nothing to sign in to.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode

from starlette.responses import Response

from taco_adapters.identity.discovery import same_issuer
from taco_core.errors import (
    IdentityProviderUnavailable,
    InvalidInput,
    NotConfigured,
    Unauthenticated,
)
from taco_http.auth_routes import SCOPES
from taco_http.ui.forms import read_form
from taco_http.ui.frame import HOME, Visit, safe_next
from taco_http.ui.session import PendingLogin

CALLBACK_PATH = "/ui/auth/callback"


def callback_url(visit: Visit) -> str:
    """Where the provider sends the browser back: under the public URL when
    one is configured (behind a proxy), else under the URL of this request."""
    base = visit.services.settings.public_base_url or str(visit.request.base_url)
    return base.rstrip("/") + CALLBACK_PATH


def challenge_of(verifier: str) -> str:
    """The PKCE S256 challenge of ``verifier`` (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _login_page(visit: Visit, *, status: int = 200, error: str = "") -> Response:
    return visit.page(
        "login.html",
        status=status,
        error=error,
        oidc=visit.services.oidc is not None,
        issuer=visit.services.settings.auth_issuer,
        next_page=safe_next(visit.request.query_params.get("next")),
    )


async def login_form(visit: Visit) -> Response:
    if visit.principal is not None:
        return visit.redirect(safe_next(visit.request.query_params.get("next")))
    return _login_page(visit)


async def token_login(visit: Visit) -> Response:
    form = await read_form(visit)
    if visit.principal is not None:
        return visit.redirect(safe_next(form.get("next")))
    token = form.get("token", "").strip()
    if not token:
        return _login_page(visit, status=400, error="Paste an API token to log in.")
    try:
        await visit.services.auth.authenticate(token)
    except Unauthenticated as exc:
        return _login_page(visit, status=401, error=exc.message)
    visit.session = visit.sessions.sign_in(visit.session, token)
    return visit.redirect(safe_next(form.get("next")))


async def oidc_start(visit: Visit) -> Response:
    oidc = visit.services.oidc
    if oidc is None:
        raise NotConfigured(
            "OIDC login is not configured on this server (OPENTACO_AUTH_ISSUER and "
            "OPENTACO_AUTH_CLIENT_ID): log in with an API token"
        )
    endpoint = (await oidc.endpoints()).get("authorization_endpoint")
    if not endpoint:
        raise IdentityProviderUnavailable(
            "the provider names no authorization_endpoint: set OPENTACO_AUTH_AUTH_URL"
        )
    verifier = secrets.token_urlsafe(48)
    login = PendingLogin(
        state=secrets.token_urlsafe(24),
        nonce=secrets.token_urlsafe(24),
        verifier=verifier,
        next_page=safe_next(visit.request.query_params.get("next")),
        started=visit.sessions.now(),
    )
    visit.session.login = login
    params = {
        "response_type": "code",
        "client_id": visit.services.settings.auth_client_id,
        "redirect_uri": callback_url(visit),
        "scope": " ".join(SCOPES),
        "state": login.state,
        "nonce": login.nonce,
        "code_challenge": challenge_of(verifier),
        "code_challenge_method": "S256",
    }
    separator = "&" if "?" in endpoint else "?"
    return visit.redirect(endpoint + separator + urlencode(params))


async def oidc_callback(visit: Visit) -> Response:
    query = visit.request.query_params
    login, visit.session.login = visit.session.login, None
    oidc = visit.services.oidc
    if oidc is None:
        raise NotConfigured("OIDC login is not configured on this server")
    if (
        login is None
        or visit.sessions.login_expired(login)
        or not secrets.compare_digest(query.get("state", ""), login.state)
    ):
        raise InvalidInput(
            "this login answer does not belong to a login started in this browser (or it "
            "took too long, or came back twice): start the login again"
        )
    try:
        if "error" in query:
            detail = query.get("error_description")
            raise Unauthenticated(
                f"the identity provider refused the login: {query['error']}"
                + (f" ({detail})" if detail else "")
            )
        iss = query.get("iss")
        if iss is not None and not same_issuer(iss, visit.services.settings.auth_issuer):
            raise Unauthenticated(f"the login answer comes from another issuer ({iss!r})")
        code = query.get("code")
        if not code:
            raise Unauthenticated("the login answer carries no authorization code")
        id_token = await oidc.redeem_code(
            code, redirect_uri=callback_url(visit), code_verifier=login.verifier
        )
        issued = await visit.services.auth.exchange(id_token, nonce=login.nonce)
    except Unauthenticated as exc:
        return _login_page(visit, status=401, error=exc.message)
    visit.session = visit.sessions.sign_in(visit.session, issued.access_token, issued.refresh_token)
    return visit.redirect(login.next_page)


async def logout(visit: Visit) -> Response:
    await read_form(visit)
    refresh = visit.session.refresh_token
    visit.sessions.drop(visit.session.id)
    visit.session = visit.sessions.new()
    if refresh:
        await visit.services.auth.logout(refresh)
    if visit.auth_disabled:
        return visit.redirect(HOME)
    return visit.redirect("/ui/login", "You are logged out.")
