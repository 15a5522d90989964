"""``taco login`` through an OIDC provider: authorization code with PKCE (S256).

The CLI is a public client (it cannot keep a secret), so the flow is the one
of RFC 8252 for native apps:

1. what to log in with comes from the server's ``/v1/auth/config``, each part
   overridable by an option; endpoints still missing come from the issuer's
   discovery document;
2. a one-off HTTP server listens on the loopback callback (default
   ``http://127.0.0.1:8585/callback``) *before* the browser is sent to the
   provider, so the answer cannot arrive at a closed port;
3. the authorization request carries a PKCE challenge (a stolen code is
   useless without the verifier), a ``state`` (an answer from another login
   attempt, or forged by another page, is refused) and a ``nonce`` (the
   server checks it is in the ID token);
4. the code is swapped at the provider's token endpoint for an ID token,
   which the caller (``complete``) exchanges at the server; only then does
   the browser page say whether the login worked, so it never claims a
   success the terminal then contradicts.
"""

from __future__ import annotations

import base64
import hashlib
import html
import ipaddress
import os
import secrets
import sys
import webbrowser
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import anyio
import attrs
from aiohttp import web
from attrs import frozen

from taco_adapters.identity.discovery import discover, same_issuer
from taco_adapters.remote import CredentialsFileError
from taco_adapters.wire import AuthConfig
from taco_cli.errors import AuthenticationFailed, CliError
from taco_cli.parser import CLIENT_ID_ENV, ISSUER_ENV
from taco_core.errors import IdentityProviderUnavailable, TacoError

DEFAULT_SCOPES = ("openid", "profile", "email")
DEFAULT_REDIRECT = "http://127.0.0.1:8585/callback"
# How long the browser's request waits for the rest of the login (the code
# swap and the exchange at the server) before the page says "see terminal".
_PAGE_WAIT_SECONDS = 60.0
_LOOPBACK_NAMES = ("localhost",)


@frozen
class LoginOptions:
    """What the user chose on the command line (``None``: not given)."""

    issuer: str | None = None
    client_id: str | None = None
    auth_url: str | None = None
    token_url: str | None = None
    scopes: str | None = None
    callback_port: int | None = None
    force_login: bool = False


@frozen
class LoginPlan:
    """Everything the browser flow needs, resolved before it starts."""

    issuer: str
    client_id: str
    authorization_endpoint: str
    token_endpoint: str
    scopes: tuple[str, ...]
    redirect_uri: str
    force_login: bool = False

    @property
    def callback(self) -> tuple[str, int, str]:
        """Host, port and path the callback server listens on."""
        parts = urlsplit(self.redirect_uri)
        return parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"


@frozen
class Pkce:
    """One login attempt's secrets (RFC 7636 verifier and S256 challenge,
    OAuth ``state``, OIDC ``nonce``), never reused."""

    verifier: str
    challenge: str
    state: str
    nonce: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)  # 64 characters, 384 bits
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        return cls(verifier, challenge, secrets.token_urlsafe(24), secrets.token_urlsafe(24))


@frozen
class IdToken:
    """What the provider handed back, and the nonce the server must find in it."""

    id_token: str
    nonce: str


# -- resolving what to log in with ---------------------------------------------


def is_loopback_redirect(uri: str) -> bool:
    """An ``http`` redirect to this machine, which a local server can receive."""
    parts = urlsplit(uri)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def redirect_uri(config: AuthConfig | None, port: int | None) -> str:
    """The server's first loopback redirect URI (the one registered with the
    provider), on ``port`` when one is chosen; the default one otherwise."""
    registered = [u for u in (config.redirect_uris if config else ()) if is_loopback_redirect(u)]
    uri = registered[0] if registered else DEFAULT_REDIRECT
    if port is None:
        return uri
    parts = urlsplit(uri)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return parts._replace(netloc=f"{host}:{port}").geturl()


def split_scopes(raw: str) -> tuple[str, ...]:
    """``--scopes`` as people write it: spaces (the OAuth form) or commas."""
    return tuple(s for s in raw.replace(",", " ").split() if s)


def partial_plan(
    options: LoginOptions, config: AuthConfig | None, environ: Mapping[str, str], server: str
) -> LoginPlan:
    """The plan from options, environment and the server's config; endpoints
    may still be empty (``complete_plan`` asks the issuer for them).

    The server's endpoints are used only for the server's own issuer: with
    another ``--issuer`` they would send the user to the wrong provider.
    """
    issuer = options.issuer or environ.get(ISSUER_ENV) or (config.issuer if config else "")
    client_id = (
        options.client_id or environ.get(CLIENT_ID_ENV) or (config.client_id if config else "")
    )
    if not issuer or not client_id:
        missing = " and ".join(
            name for name, value in (("issuer", issuer), ("client ID", client_id)) if not value
        )
        raise CliError(
            f"the server at {server} publishes no OIDC {missing} for logging in (no provider "
            "is configured there): log in with an API token instead (taco login --token -), "
            "or give --issuer and --client-id"
        )
    own = config is not None and same_issuer(issuer, config.issuer)
    scopes = split_scopes(options.scopes or "") or (config.scopes if config else ())
    if "openid" not in scopes:
        scopes = ("openid", *scopes) if scopes else DEFAULT_SCOPES
    return LoginPlan(
        issuer=issuer,
        client_id=client_id,
        authorization_endpoint=options.auth_url
        or (config.authorization_endpoint if own and config else ""),
        token_endpoint=options.token_url or (config.token_endpoint if own and config else ""),
        scopes=scopes,
        redirect_uri=redirect_uri(config, options.callback_port),
        force_login=options.force_login,
    )


def authorization_url(plan: LoginPlan, pkce: Pkce) -> str:
    """Where the browser goes: the provider's login for this attempt."""
    params = {
        "response_type": "code",
        "client_id": plan.client_id,
        "redirect_uri": plan.redirect_uri,
        "scope": " ".join(plan.scopes),
        "state": pkce.state,
        "nonce": pkce.nonce,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
    }
    if plan.force_login:
        params.update(prompt="login", max_age="0")
    separator = "&" if "?" in plan.authorization_endpoint else "?"
    return plan.authorization_endpoint + separator + urlencode(params)


# -- talking to the provider ----------------------------------------------------


class IdentityProvider:
    """The few HTTP calls to the OIDC provider a login makes (discovery, shared
    with the server's verifier, and the code swap), with its errors turned
    into the CLI's in one place."""

    def __init__(self, timeout: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def complete_plan(self, plan: LoginPlan) -> LoginPlan:
        """``plan`` with the endpoints it lacks, from the issuer's discovery document."""
        if plan.authorization_endpoint and plan.token_endpoint:
            return plan
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            doc = await discover(session, plan.issuer)
        methods = doc.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise AuthenticationFailed(
                f"the identity provider {plan.issuer} does not support PKCE with S256, "
                "which taco login requires"
            )
        endpoints: dict[str, str] = {}
        for name in ("authorization_endpoint", "token_endpoint"):
            given = getattr(plan, name)
            found = doc.get(name)
            if not given and not isinstance(found, str):
                option = "--auth-url" if name == "authorization_endpoint" else "--token-url"
                raise IdentityProviderUnavailable(
                    f"the discovery document of {plan.issuer} names no {name}: give it with "
                    f"{option}"
                )
            endpoints[name] = given or str(found)
        return attrs.evolve(
            plan,
            authorization_endpoint=endpoints["authorization_endpoint"],
            token_endpoint=endpoints["token_endpoint"],
        )

    async def swap_code(self, plan: LoginPlan, code: str, pkce: Pkce) -> IdToken:
        """The authorization code and the PKCE verifier for an ID token
        (public client: no secret, the verifier proves it is the same client)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": plan.redirect_uri,
            "client_id": plan.client_id,
            "code_verifier": pkce.verifier,
        }
        status, doc = await self._request("POST", plan.token_endpoint, form=form)
        if status != 200:
            error = doc.get("error") or f"HTTP {status}"
            detail = f" ({doc['error_description']})" if doc.get("error_description") else ""
            raise AuthenticationFailed(
                f"the identity provider refused the login code at {plan.token_endpoint}: "
                f"{error}{detail}",
                ("Run taco login again.",),
            )
        id_token = doc.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise AuthenticationFailed(
                f"the identity provider answered without an ID token at {plan.token_endpoint}; "
                "is 'openid' among the scopes (--scopes)?"
            )
        return IdToken(id_token, pkce.nonce)

    async def _request(
        self, method: str, url: str, *, form: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.request(
                    method, url, data=form, headers={"Accept": "application/json"}
                ) as reply,
            ):
                status = reply.status
                try:
                    doc = await reply.json(content_type=None)
                except ValueError:
                    doc = {}
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
            raise IdentityProviderUnavailable(
                f"cannot reach the identity provider at {url}: {reason or type(exc).__name__}"
            ) from None
        return status, doc if isinstance(doc, dict) else {}


# -- the local callback ----------------------------------------------------------


class Callback:
    """The one-off server on the redirect URI: takes the provider's answer
    for this attempt (checking ``state``), then shows the outcome."""

    def __init__(self, plan: LoginPlan, state: str) -> None:
        self.plan = plan
        self._state = state
        self._answered = anyio.Event()
        self._finished = anyio.Event()
        self._code: str | None = None
        self._failure: AuthenticationFailed | None = None
        self._outcome = ""

    async def code(self) -> str:
        """Wait for the provider's answer: the code, or ``AuthenticationFailed``."""
        await self._answered.wait()
        if self._failure is not None:
            raise self._failure
        assert self._code is not None
        return self._code

    def finish(self, problem: str | None) -> None:
        """Let the browser page show the outcome: ``None`` for success."""
        self._outcome = problem or ""
        self._finished.set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Any request to the callback server: only the callback path counts,
        and only its first answer (a reload, or a second tab, gets 409)."""
        _, _, path = self.plan.callback
        if request.path != path:
            return web.Response(status=404, text="Not the OpenTaco login callback.\n")
        if self._answered.is_set():
            return _page(409, "This login has already been answered. See the terminal.")
        query = request.query
        failure = self._check(query)
        if failure is not None:
            self._failure = failure
            self._answered.set()
            return _page(400, failure.message)
        self._code = query["code"]
        self._answered.set()
        with anyio.move_on_after(_PAGE_WAIT_SECONDS):
            await self._finished.wait()
        if not self._finished.is_set():
            return _page(200, "The login is being completed: see the terminal.")
        if self._outcome:
            return _page(400, f"The login failed: {self._outcome}")
        return _page(200, "You are logged in to OpenTaco. You may close this tab.")

    def _check(self, query: Mapping[str, str]) -> AuthenticationFailed | None:
        again = ("Nothing was saved. Run taco login again.",)
        # State first: an answer to another attempt says nothing about this one.
        if not secrets.compare_digest(query.get("state", ""), self._state):
            return AuthenticationFailed(
                "the login answer does not belong to this login attempt (state mismatch): "
                "it came from an older login or from another page, and was refused",
                again,
            )
        if "error" in query:
            detail = query.get("error_description")
            return AuthenticationFailed(
                f"the identity provider refused the login: {query['error']}"
                + (f" ({detail})" if detail else ""),
                again,
            )
        # RFC 9207: a provider that names itself must be the one we sent the user to.
        iss = query.get("iss")
        if iss is not None and not same_issuer(iss, self.plan.issuer):
            return AuthenticationFailed(
                f"the login answer comes from issuer {iss!r}, not {self.plan.issuer!r}", again
            )
        if not query.get("code"):
            return AuthenticationFailed("the login answer carries no authorization code", again)
        return None

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """Listen on the redirect URI's host and port while the block runs.

        Closing waits for the browser's request to get its page.
        """
        host, port, _ = self.plan.callback
        # 'localhost' may resolve to either loopback address first: listen on both.
        hosts = ["127.0.0.1", "::1"] if host == "localhost" else [host]
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
        await runner.setup()
        try:
            listening = 0
            for index, address in enumerate(hosts):
                try:
                    await web.TCPSite(runner, address, port).start()
                    listening += 1
                except OSError as exc:
                    if index == 0:
                        raise CliError(
                            f"cannot listen on {address}:{port} for the login callback "
                            f"({exc.strerror or exc}): is another taco login running? Choose "
                            "another port with --callback-port (the provider must allow "
                            "the redirect URI on that port)"
                        ) from None
            yield
        finally:
            await runner.cleanup()


def _page(status: int, text: str) -> web.Response:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>OpenTaco login</title></head>"
        f"<body><h1>OpenTaco login</h1><p>{html.escape(text)}</p></body></html>\n"
    )
    return web.Response(
        status=status,
        text=body,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


# -- the browser -------------------------------------------------------------------


def can_open_browser(environ: Mapping[str, str]) -> bool:
    """Whether a graphical browser may be there. Without a display on Linux
    and the like, ``webbrowser`` would start a text browser in this terminal
    (lynx, w3m), which is worse than printing the URL."""
    if environ.get("BROWSER"):
        return True
    if sys.platform in ("darwin", "win32") or os.name == "nt":
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


async def open_browser(url: str) -> bool:
    """Open ``url`` in a browser; ``False`` (never an error) when that fails."""
    try:
        opened = await anyio.to_thread.run_sync(webbrowser.open, url, abandon_on_cancel=True)
    except (webbrowser.Error, OSError):
        return False
    return bool(opened)


# -- the flow ----------------------------------------------------------------------


async def browser_login(
    plan: LoginPlan,
    *,
    complete: Callable[[IdToken], Awaitable[None]],
    announce: Callable[[str], None],
    provider: IdentityProvider,
    browser: bool,
    patience: float,
) -> None:
    """Run one login attempt: ``announce(url)`` tells the user where to go
    (before the browser is tried: opening one can fail silently),
    ``complete`` gets the ID token (and exchanges and saves it); the
    browser's page reports how ``complete`` went. ``patience`` bounds the
    wait for the browser, in seconds."""
    pkce = Pkce.new()
    callback = Callback(plan, pkce.state)
    async with callback.serving():
        url = authorization_url(plan, pkce)
        announce(url)
        if browser:
            await open_browser(url)
        problem: str | None = "the login was interrupted"
        try:
            with anyio.move_on_after(patience) as waiting:
                code = await callback.code()
            if waiting.cancelled_caught:
                minutes = f"{patience / 60:.0f} min" if patience >= 60 else f"{patience:.0f} s"
                raise AuthenticationFailed(
                    f"no answer from the login page within {minutes}",
                    ("Run taco login again (--login-timeout SECONDS allows more time).",),
                )
            await complete(await provider.swap_code(plan, code, pkce))
            problem = None
        except (TacoError, CliError, CredentialsFileError) as exc:
            problem = exc.message
            raise
        finally:
            callback.finish(problem)


def announcement(plan: LoginPlan, server: str, url: str, browser: bool) -> Sequence[str]:
    """What the user reads while the login waits for the browser."""
    how = (
        "Opening your browser to log in; if it does not open, visit:"
        if browser
        else "Open this URL in a browser to log in:"
    )
    return [
        f"Logging in to {server} through {plan.issuer}.",
        how,
        "",
        f"    {url}",
        "",
        f"Waiting for the login on {plan.redirect_uri} ...",
    ]
