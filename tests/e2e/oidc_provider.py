"""A real OpenID Connect provider for end-to-end login tests, and a headless
browser for it.

The provider is panva's npm ``oidc-provider`` (``tests/e2e/oidc/server.mjs``),
installed from the lock file by ``npm ci`` the first time it is needed. Its
development login and consent pages are plain HTML forms, so the browser part
of an authorization-code + PKCE login is scripted over HTTP here.

Node and npm must be installed: without them the tests fail with the command
that fixes it (never skip, so a CI run cannot pass by testing nothing).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import attrs
import httpx

from tests.servers import free_port

PROJECT = Path(__file__).resolve().parent / "oidc"
VERSION = "9.13.3"
CLIENT_ID = "opentaco-cli"
REDIRECT_URI = "http://127.0.0.1:8585/callback"


class NodeMissing(RuntimeError):
    """node or npm is not installed."""


def _require(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise NodeMissing(
            f"{program} is not installed, and the OIDC login tests need Node.js 20+ with npm "
            "to run the real oidc-provider: install them (Debian: apt-get install nodejs npm)"
        )
    return found


def install() -> None:
    """``npm ci`` in ``tests/e2e/oidc`` unless oidc-provider is already there."""
    installed = PROJECT / "node_modules" / "oidc-provider" / "package.json"
    if installed.is_file() and json.loads(installed.read_text())["version"] == VERSION:
        return
    npm = _require("npm")
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"npm ci in {PROJECT} failed:\n{proc.stdout}\n{proc.stderr}")


@attrs.frozen
class Provider:
    """A running provider: its issuer URL, the public client's ID and redirect URI."""

    issuer: str
    client_id: str
    redirect_uri: str
    log: Path


@contextlib.contextmanager
def running_provider(
    workdir: Path,
    redirect_uris: tuple[str, ...] = (REDIRECT_URI,),
    application_type: str = "native",
) -> Iterator[Provider]:
    """Start ``server.mjs`` on a free port, wait for discovery, stop it afterwards.
    The public client allows ``redirect_uris`` (the first is ``Provider.redirect_uri``);
    a ``web`` client may also redirect to ``https://localhost``."""
    node = _require("node")
    install()
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"oidc-provider-{port}.log"
    env = {
        **os.environ,
        "PORT": str(port),
        "CLIENT_ID": CLIENT_ID,
        "REDIRECT_URIS": ",".join(redirect_uris),
        "APPLICATION_TYPE": application_type,
    }
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            [node, "server.mjs"], cwd=PROJECT, env=env, stdout=sink, stderr=sink
        )
    provider = Provider(f"http://127.0.0.1:{port}", CLIENT_ID, redirect_uris[0], log)
    try:
        _wait_for_discovery(provider, proc)
        yield provider
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _wait_for_discovery(provider: Provider, proc: subprocess.Popen[bytes]) -> None:
    url = f"{provider.issuer}/.well-known/openid-configuration"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"oidc-provider exited {proc.returncode}:\n{provider.log.read_text()}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"oidc-provider did not serve {url} in 30 s:\n{provider.log.read_text()}")


@attrs.frozen
class Pkce:
    """One login attempt's secrets: the PKCE verifier, its S256 challenge, state, nonce."""

    verifier: str
    challenge: str
    state: str
    nonce: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        return cls(verifier, challenge, secrets.token_urlsafe(16), secrets.token_urlsafe(16))


_FORM = re.compile(r'<form[^>]*action="([^"]+)"', re.IGNORECASE)


def authorize(provider: Provider, pkce: Pkce | None, login: str) -> dict[str, list[str]]:
    """What a browser does between opening the authorization URL and landing on
    the redirect URI: log in as ``login`` (any password) and consent. Returns
    the redirect's query parameters (``code``, ``state``, ``iss`` or ``error``).
    ``pkce=None`` leaves out the code challenge, as a broken client would."""
    params = {
        "client_id": provider.client_id,
        "response_type": "code",
        "redirect_uri": provider.redirect_uri,
        "scope": "openid profile email",
    }
    if pkce is not None:
        params.update(
            state=pkce.state,
            nonce=pkce.nonce,
            code_challenge=pkce.challenge,
            code_challenge_method="S256",
        )
    url = f"{provider.issuer}/auth?{urlencode(params)}"
    return parse_qs(urlsplit(browse(url, login, provider.redirect_uri)).query)


def browse(url: str, login: str, redirect_uri: str) -> str:
    """A headless browser on the provider's pages: open ``url`` (an
    authorization request), log in as ``login`` with any password, consent,
    and return the URL the provider finally redirects to under
    ``redirect_uri``, without following it (a test decides who receives it)."""
    with httpx.Client(timeout=10) as browser:
        response = browser.get(url)
        for _ in range(20):
            if response.is_redirect:
                target = urljoin(str(response.url), response.headers["location"])
                if target.startswith(redirect_uri):
                    return target
                response = browser.get(target)
                continue
            assert response.status_code == 200, response.text
            action = html.unescape(_FORM.findall(response.text)[0])
            if 'name="login"' in response.text:
                form = {"prompt": "login", "login": login, "password": "any"}
            else:
                form = {"prompt": "consent"}
            response = browser.post(urljoin(str(response.url), action), data=form)
    raise AssertionError("the login never reached the redirect URI")


def token_request(provider: Provider, code: str, verifier: str) -> httpx.Response:
    """The code exchange at the provider's token endpoint (public client)."""
    return httpx.post(
        f"{provider.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": provider.redirect_uri,
            "client_id": provider.client_id,
            "code_verifier": verifier,
        },
        timeout=10,
    )
