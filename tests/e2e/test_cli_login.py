"""``taco login`` end to end: the real CLI process, the real OIDC provider (npm
oidc-provider, PKCE S256 required), a real ``opentacosvc`` with auth on.

The browser is scripted over HTTP: the test reads the authorization URL the
CLI prints, logs in and consents on the provider's pages, and delivers the
provider's redirect to the CLI's own callback server, as a browser would.
"""

from __future__ import annotations

import json
import queue
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from taco_cli.login import IdentityProvider, LoginPlan
from tests.cli.conftest import Result, Taco
from tests.e2e.oidc_provider import (
    REDIRECT_URI,
    NodeMissing,
    Pkce,
    Provider,
    authorize,
    browse,
    running_provider,
    token_request,
)
from tests.servers import Server, free_port, running_server

pytestmark = pytest.mark.e2e

# The CLI's callback in these tests, registered with the provider's client.
CALLBACK_PORT = free_port()
CALLBACK = f"http://127.0.0.1:{CALLBACK_PORT}/callback"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """The real provider; its public client allows the CLI's callback URL."""
    try:
        with running_provider(
            tmp_path_factory.mktemp("oidc"), redirect_uris=(CALLBACK, REDIRECT_URI)
        ) as started:
            yield started
    except NodeMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def server(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """opentacosvc with auth on and the provider as its OIDC issuer."""
    env = {
        "OPENTACO_AUTH_ISSUER": provider.issuer,
        "OPENTACO_AUTH_CLIENT_ID": provider.client_id,
        # The provider sends no groups: alice is made an admin by configuration.
        "OPENTACO_RBAC_SUBJECT_ROLES": "alice=admin",
    }
    with running_server(tmp_path_factory.mktemp("svc"), env=env, auth_disable=False) as srv:
        yield srv


@pytest.fixture
def taco(server: Server, tmp_path: Path) -> Taco:
    work = tmp_path / "work"
    work.mkdir()
    return Taco(work, server.url)


class Login:
    """A ``taco login`` process whose output is collected as it comes, so the
    test can read the printed URL while the CLI waits for its browser."""

    def __init__(self, taco: Taco, *args: str) -> None:
        self.proc = taco.start("login", "--no-browser", *args)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out, True)),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err, False)),
        ]
        for reader in self.readers:
            reader.start()

    def _read(self, stream: IO[str], into: list[str], announce: bool) -> None:
        with stream:
            for line in stream:
                into.append(line)
                if announce:
                    self.lines.put(line)
        if announce:
            self.lines.put(None)

    def url(self) -> str:
        """The authorization URL, printed on its own indented line."""
        while True:
            line = self.lines.get(timeout=60)
            if line is None:
                raise AssertionError(f"taco login printed no URL: {self.result()}")
            if line.startswith("    http"):
                return line.strip()

    def result(self) -> Result:
        try:
            self.proc.wait(60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
        for reader in self.readers:
            reader.join(10)
        out, err = "".join(self.out).encode(), "".join(self.err).encode()
        return Result(subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err))


def browser_login(taco: Taco, user: str) -> tuple[Result, httpx.Response]:
    """``taco login`` with the scripted browser: the CLI's result and the page
    its callback showed the browser."""
    login = Login(taco, "--callback-port", str(CALLBACK_PORT))
    try:
        page = httpx.get(browse(login.url(), user, CALLBACK), timeout=60)
    finally:
        result = login.result()
    return result, page


def saved(taco: Taco) -> dict[str, str]:
    profiles: dict[str, dict[str, str]] = json.loads(taco.credentials.read_text())["profiles"]
    assert taco.server is not None
    return profiles[taco.server]


def test_login_in_the_browser_saves_tokens_that_work(
    taco: Taco, provider: Provider, server: Server
) -> None:
    """The PKCE login completes through the real provider; the saved 0600
    credentials then carry every command, as the user who logged in."""
    assert taco("unit", "ls").code == 5
    login = Login(taco, "--callback-port", str(CALLBACK_PORT))
    url = login.url()
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{provider.issuer}/auth?")
    assert query["redirect_uri"] == [CALLBACK]
    assert query["client_id"] == [provider.client_id]
    assert query["code_challenge_method"] == ["S256"]
    assert query["response_type"] == ["code"]
    assert set(query["scope"][0].split()) >= {"openid", "email"}
    assert query["state"][0] and query["nonce"][0] and query["code_challenge"][0]
    assert "prompt" not in query

    page = httpx.get(browse(url, "alice", CALLBACK), timeout=60)
    result = login.result()
    assert result.code == 0, result
    assert "Open this URL in a browser to log in:" in result.out
    assert page.status_code == 200 and "logged in" in page.text
    assert "Login successful; tokens saved." in result.out
    assert f"Logged in to {server.url} as alice (alice@example.test)." in result.out

    assert stat.S_IMODE(taco.credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(taco.credentials.parent.stat().st_mode) == 0o700
    tokens = saved(taco)
    assert tokens["access_token"].count(".") == 2
    assert tokens["refresh_token"].startswith("otr_")

    taco.ok("unit", "create", "login/alice")
    assert "login/alice" in taco.ok("unit", "ls").out
    me = taco.ok("whoami", "--json").json()
    assert (me["subject"], me["email"], me["kind"], me["credential"]) == (
        "alice",
        "alice@example.test",
        "user",
        "saved",
    )
    versions = taco.ok("unit", "push", "login/alice", "-", stdin=b'{"version": 4, "serial": 1}')
    assert versions.code == 0
    history = taco.ok("unit", "versions", "login/alice", "--json").json()
    assert history["versions"][0]["author"] == "alice"


def test_a_refused_access_token_is_renewed_once_and_the_pair_rotates(
    taco: Taco, server: Server
) -> None:
    """A command whose saved access token is refused refreshes the session
    by itself, saves the rotated pair and succeeds; the spent refresh token
    is then refused by the server."""
    result, _ = browser_login(taco, "bob")
    assert result.code == 0, result
    before = saved(taco)
    doc = json.loads(taco.credentials.read_text())
    assert taco.server is not None
    doc["profiles"][taco.server]["access_token"] = "eyJhbGciOiJFUzI1NiJ9.e30.forged"
    taco.credentials.write_text(json.dumps(doc))

    renewed = taco.ok("-v", "unit", "ls")
    assert "renewing the login session" in renewed.err
    after = saved(taco)
    assert after["refresh_token"] != before["refresh_token"]
    assert after["refresh_token"].startswith("otr_")
    assert after["access_token"] not in (before["access_token"], "eyJhbGciOiJFUzI1NiJ9.e30.forged")
    assert taco.ok("whoami", "--json").json()["subject"] == "bob"
    spent = httpx.post(
        f"{server.url}/v1/auth/token", json={"refresh_token": before["refresh_token"]}
    )
    assert spent.status_code == 401


def test_a_session_that_cannot_be_renewed_says_log_in_again(taco: Taco, server: Server) -> None:
    """When the refresh token is dead too, the command exits 5 with
    'session expired' and the command that fixes it."""
    result, _ = browser_login(taco, "carol")
    assert result.code == 0, result
    tokens = saved(taco)
    # Spend the refresh token elsewhere, then make the access token fail.
    assert httpx.post(
        f"{server.url}/v1/auth/token", json={"refresh_token": tokens["refresh_token"]}
    ).is_success
    doc = json.loads(taco.credentials.read_text())
    assert taco.server is not None
    doc["profiles"][taco.server]["access_token"] = "not-a-token"
    taco.credentials.write_text(json.dumps(doc))

    failed = taco("unit", "ls")
    assert failed.code == 5, failed
    assert failed.err.startswith("taco: session expired: ")
    assert "Log in again: taco login" in failed.err
    assert "Traceback" not in failed.err


def test_logout_ends_the_session_on_the_server_and_here(taco: Taco, server: Server) -> None:
    """logout revokes the refresh token at the server and removes the profile."""
    result, _ = browser_login(taco, "dave")
    assert result.code == 0, result
    tokens = saved(taco)
    out = taco.ok("logout").out
    assert out == f"Logged out from {server.url} (tokens removed)\n"
    assert server.url not in json.loads(taco.credentials.read_text())["profiles"]
    refused = httpx.post(
        f"{server.url}/v1/auth/token", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refused.status_code == 401
    assert taco("unit", "ls").code == 5


def test_an_answer_with_a_wrong_state_is_refused(taco: Taco) -> None:
    """A callback whose state is not this login's gets 400, the CLI exits 5
    saying so, and nothing is saved."""
    login = Login(taco, "--callback-port", str(CALLBACK_PORT))
    try:
        login.url()
        elsewhere = httpx.get(f"http://127.0.0.1:{CALLBACK_PORT}/favicon.ico")
        assert elsewhere.status_code == 404
        forged = httpx.get(CALLBACK, params={"code": "stolen", "state": "not-this-login"})
        assert forged.status_code == 400
        assert "state mismatch" in forged.text
    finally:
        result = login.result()
    assert result.code == 5, result
    assert "state mismatch" in result.err
    assert "Nothing was saved." in result.err
    assert not taco.credentials.exists()


def test_force_login_asks_again_and_the_wait_is_bounded(taco: Taco) -> None:
    """--force-login adds prompt=login and max_age=0; with nobody at the
    browser, --login-timeout ends the wait with exit 5."""
    login = Login(
        taco, "--force-login", "--callback-port", str(CALLBACK_PORT), "--login-timeout", "1"
    )
    query = parse_qs(urlsplit(login.url()).query)
    assert query["prompt"] == ["login"] and query["max_age"] == ["0"]
    result = login.result()
    assert result.code == 5, result
    assert "no answer from the login page within 1 s" in result.err


def test_login_with_an_id_token_skips_the_browser(
    taco: Taco, provider: Provider, server: Server
) -> None:
    """--id-token - exchanges an ID token read from stdin and saves the session."""
    pkce = Pkce.new()
    redirect = authorize(
        Provider(provider.issuer, provider.client_id, REDIRECT_URI, provider.log), pkce, "erin"
    )
    reply = token_request(
        Provider(provider.issuer, provider.client_id, REDIRECT_URI, provider.log),
        redirect["code"][0],
        pkce.verifier,
    )
    id_token = reply.json()["id_token"]
    result = taco.ok("login", "--id-token", "-", stdin=id_token.encode())
    assert "as erin (erin@example.test)" in result.out
    assert saved(taco)["refresh_token"].startswith("otr_")
    assert taco.ok("whoami", "--json").json()["subject"] == "erin"
    refused = taco("login", "--id-token", "-", stdin=b"eyJhbGciOiJub25lIn0.e30.")
    assert refused.code == 5
    assert "refused the ID token" in refused.err


async def test_missing_endpoints_come_from_the_issuers_discovery(provider: Provider) -> None:
    """A plan without endpoints is completed from the provider's discovery document."""
    plan = LoginPlan(
        issuer=provider.issuer,
        client_id=provider.client_id,
        authorization_endpoint="",
        token_endpoint="",
        scopes=("openid",),
        redirect_uri=CALLBACK,
    )
    done = await IdentityProvider(10).complete_plan(plan)
    assert done.authorization_endpoint == f"{provider.issuer}/auth"
    assert done.token_endpoint == f"{provider.issuer}/token"
