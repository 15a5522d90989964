"""The CLI's auth parts in process: the credentials file, renewing a saved
login, resolving what ``taco login`` logs in with, and its callback server."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import attrs
import httpx
import pytest

from taco_adapters.remote import StaticToken
from taco_adapters.remote.credentials_file import (
    CredentialsFile,
    CredentialsFileError,
    Profile,
    SavedCredentials,
    config_dir,
    same_server,
)
from taco_adapters.wire import AuthConfig
from taco_cli.errors import AuthenticationFailed, CliError
from taco_cli.login import (
    Callback,
    LoginOptions,
    LoginPlan,
    Pkce,
    authorization_url,
    can_open_browser,
    partial_plan,
    redirect_uri,
)
from taco_cli.main import EXIT_AUTH, EXIT_CODES, credentials_of, exit_code_for, target_of
from taco_cli.output import Output
from taco_cli.parser import EXIT_STATUS, build_parser
from taco_core.auth import IssuedTokens
from taco_core.errors import Unauthenticated
from tests.servers import free_port

SERVER = "http://taco.example:8080"

# -- the credentials file ----------------------------------------------------------


def test_the_file_lives_in_xdg_config_home_or_dot_config(tmp_path: Path) -> None:
    """$XDG_CONFIG_HOME/opentaco when absolute, else ~/.config/opentaco."""
    assert config_dir({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "opentaco"
    assert config_dir({"XDG_CONFIG_HOME": "relative"}) == Path.home() / ".config" / "opentaco"
    assert config_dir({}) == Path.home() / ".config" / "opentaco"


async def test_profiles_are_saved_privately_per_server(tmp_path: Path) -> None:
    """Saving creates a 0700 directory and a 0600 file in the reference's shape."""
    store = CredentialsFile(tmp_path / "cfg" / "opentaco" / "credentials.json")
    assert store.profile(SERVER) is None
    async with store.editing() as profiles:
        profiles.set(SERVER, Profile("at", "otr_1"))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert json.loads(store.path.read_text()) == {
        "profiles": {SERVER: {"access_token": "at", "refresh_token": "otr_1"}}
    }
    assert store.profile(SERVER) == Profile("at", "otr_1")
    assert store.profile(SERVER + "/") is None
    assert store.exposure() is None
    store.path.chmod(0o644)
    assert "chmod 600" in (store.exposure() or "")


def test_a_damaged_file_is_an_error_naming_it(tmp_path: Path) -> None:
    """Broken JSON is reported with the file and the fix, exit code 1."""
    store = CredentialsFile(tmp_path / "credentials.json")
    store.path.write_text("{nope")
    with pytest.raises(CredentialsFileError, match="is damaged") as caught:
        store.read()
    assert str(store.path) in caught.value.message
    assert exit_code_for(caught.value) == 1
    store.path.write_text("[]")
    with pytest.raises(CredentialsFileError, match="not a JSON object"):
        store.read()


def _refresher(calls: list[str], *, hold: bool = False) -> Any:
    async def refresh(token: str) -> IssuedTokens:
        calls.append(token)
        if hold:
            # Answer only once every other task waits (a second renewal on the lock).
            await anyio.wait_all_tasks_blocked()
        n = len(calls) + 1
        return IssuedTokens(f"at-{n}", 3600, f"otr_{n}", 86400)

    return refresh


async def test_renewal_refreshes_and_saves_the_rotated_pair(tmp_path: Path) -> None:
    """The refresh token is traded once and the new pair is on disk before use."""
    store = CredentialsFile(tmp_path / "credentials.json")
    async with store.editing() as profiles:
        profiles.set(SERVER, Profile("at-1", "otr_1"))
    saved = SavedCredentials.load(store, SERVER)
    assert saved is not None and saved.token() == "at-1"
    calls: list[str] = []
    assert await saved.renew("at-1", _refresher(calls)) == "at-2"
    assert calls == ["otr_1"]
    assert store.profile(SERVER) == Profile("at-2", "otr_2")
    assert saved.token() == "at-2"


async def test_renewal_by_two_processes_spends_the_refresh_token_once(tmp_path: Path) -> None:
    """Two holders of the same login (two taco processes, each with its own
    file handle) refused together: one refreshes, the other picks up the
    rotated pair from the file instead of presenting the spent token."""
    store_path = tmp_path / "credentials.json"
    async with CredentialsFile(store_path).editing() as profiles:
        profiles.set(SERVER, Profile("at-1", "otr_1"))
    first = SavedCredentials.load(CredentialsFile(store_path), SERVER)
    second = SavedCredentials.load(CredentialsFile(store_path), SERVER)
    assert first is not None and second is not None
    calls: list[str] = []
    results: list[str | None] = []

    async def renew(saved: SavedCredentials) -> None:
        results.append(await saved.renew("at-1", _refresher(calls, hold=True)))

    async with anyio.create_task_group() as tg:
        tg.start_soon(renew, first)
        tg.start_soon(renew, second)
    assert calls == ["otr_1"]
    assert results == ["at-2", "at-2"]


async def test_an_api_token_or_a_logged_out_profile_is_not_renewed(tmp_path: Path) -> None:
    """No refresh token, or no profile any more: nothing to renew with."""
    store = CredentialsFile(tmp_path / "credentials.json")
    async with store.editing() as profiles:
        profiles.set(SERVER, Profile("otc_api"))
    saved = SavedCredentials.load(store, SERVER)
    assert saved is not None
    calls: list[str] = []
    assert await saved.renew("otc_api", _refresher(calls)) is None
    async with store.editing() as profiles:
        profiles.remove(SERVER)
    assert await saved.renew("otc_api", _refresher(calls)) is None
    assert calls == []


async def test_a_refused_refresh_leaves_the_file_alone(tmp_path: Path) -> None:
    """``Unauthenticated`` from the server propagates; nothing is written."""
    store = CredentialsFile(tmp_path / "credentials.json")
    async with store.editing() as profiles:
        profiles.set(SERVER, Profile("at-1", "otr_1"))

    async def refused(token: str) -> IssuedTokens:
        raise Unauthenticated("refresh token revoked; log in again")

    saved = SavedCredentials.load(store, SERVER)
    assert saved is not None
    with pytest.raises(Unauthenticated):
        await saved.renew("at-1", refused)
    assert store.profile(SERVER) == Profile("at-1", "otr_1")


def test_opentaco_token_wins_and_profiles_match_the_server_exactly(tmp_path: Path) -> None:
    """OPENTACO_TOKEN beats the saved login; a profile is used for its server only."""
    store = CredentialsFile(tmp_path / "opentaco" / "credentials.json")
    store.path.parent.mkdir(parents=True)
    store.path.write_text(json.dumps({"profiles": {SERVER: {"access_token": "saved"}}}))
    store.path.chmod(0o600)
    out = Output(json_mode=False, stdout=None, stderr=None, binary=None)  # type: ignore[arg-type]
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    parse = build_parser().parse_args

    creds, source = credentials_of(target_of(parse(["--server", SERVER, "unit", "ls"]), env), out)
    assert source == "saved" and creds is not None and creds.token() == "saved"
    with_env = {**env, "OPENTACO_TOKEN": " otc_env \n"}
    creds, source = credentials_of(
        target_of(parse(["--server", SERVER, "unit", "ls"]), with_env), out
    )
    assert source == "OPENTACO_TOKEN" and isinstance(creds, StaticToken)
    assert creds.token() == "otc_env"
    other = target_of(parse(["--server", "http://other:8080", "unit", "ls"]), env)
    assert credentials_of(other, out) == (None, "")


@pytest.mark.parametrize(
    ("saved_as", "asked_as"),
    [
        ("http://localhost:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080", "http://localhost:8080"),
        ("http://[::1]:8080", "http://localhost:8080"),
    ],
)
async def test_loopback_names_share_one_profile(
    tmp_path: Path, saved_as: str, asked_as: str
) -> None:
    """A login saved under one loopback name is found under the others (same port), saving
    again under another name replaces it, and logging out forgets every name."""
    store = CredentialsFile(tmp_path / "opentaco" / "credentials.json")
    async with store.editing() as profiles:
        profiles.set(saved_as, Profile("otc_one"))
    assert store.profile(asked_as) == Profile("otc_one")
    assert store.profile(asked_as.replace("8080", "9090")) is None
    async with store.editing() as profiles:
        profiles.set(asked_as, Profile("otc_two"))
    assert list(json.loads(store.path.read_text())["profiles"]) == [asked_as]
    assert store.profile(saved_as) == Profile("otc_two")
    async with store.editing() as profiles:
        assert profiles.remove(saved_as) == Profile("otc_two")
    assert json.loads(store.path.read_text())["profiles"] == {}


def test_other_hosts_are_never_aliases() -> None:
    """Only this machine's loopback names are one server; any other host is itself."""
    assert same_server("http://example.test:8080") == ["http://example.test:8080"]
    assert same_server("http://127.0.0.2:8080") == ["http://127.0.0.2:8080"]
    assert set(same_server("https://localhost:8443/base")) == {
        "https://localhost:8443/base",
        "https://127.0.0.1:8443/base",
        "https://[::1]:8443/base",
    }


# -- what taco login logs in with --------------------------------------------------

CONFIG = AuthConfig(
    auth_enabled=True,
    oidc_enabled=True,
    issuer="https://idp.example/",
    client_id="taco-cli",
    authorization_endpoint="https://idp.example/authorize",
    token_endpoint="https://idp.example/token",
    redirect_uris=("https://not-local.example/cb", "http://localhost:9999/cb"),
    scopes=("openid", "email"),
)


def test_the_servers_config_is_the_default() -> None:
    """Issuer, client, endpoints, scopes and the loopback redirect come from the server."""
    plan = partial_plan(LoginOptions(), CONFIG, {}, SERVER)
    assert (plan.issuer, plan.client_id) == ("https://idp.example/", "taco-cli")
    assert plan.authorization_endpoint == "https://idp.example/authorize"
    assert plan.token_endpoint == "https://idp.example/token"
    assert plan.scopes == ("openid", "email")
    assert plan.redirect_uri == "http://localhost:9999/cb"
    assert plan.callback == ("localhost", 9999, "/cb")


def test_options_and_environment_override_the_server() -> None:
    """Options beat the environment, which beats the server; another issuer
    does not inherit the server's endpoints (they belong to its issuer)."""
    env = {"OPENTACO_AUTH_ISSUER": "https://env-idp", "OPENTACO_AUTH_CLIENT_ID": "env-client"}
    plan = partial_plan(LoginOptions(scopes="profile,email"), CONFIG, env, SERVER)
    assert (plan.issuer, plan.client_id) == ("https://env-idp", "env-client")
    assert (plan.authorization_endpoint, plan.token_endpoint) == ("", "")
    assert plan.scopes == ("openid", "profile", "email")
    options = LoginOptions(
        issuer="https://opt-idp",
        client_id="opt",
        auth_url="https://opt-idp/a",
        token_url="https://opt-idp/t",
        callback_port=7000,
    )
    plan = partial_plan(options, CONFIG, env, SERVER)
    assert (plan.issuer, plan.client_id) == ("https://opt-idp", "opt")
    assert (plan.authorization_endpoint, plan.token_endpoint) == (
        "https://opt-idp/a",
        "https://opt-idp/t",
    )
    assert plan.redirect_uri == "http://localhost:7000/cb"


def test_without_an_issuer_login_points_to_api_tokens() -> None:
    """A server without OIDC: the error says to use --token, or give the issuer."""
    bare = AuthConfig(auth_enabled=True, oidc_enabled=False)
    with pytest.raises(CliError, match=r"taco login --token -") as caught:
        partial_plan(LoginOptions(), bare, {}, SERVER)
    assert "issuer and client ID" in caught.value.message


def test_redirect_uri_defaults_and_port() -> None:
    """127.0.0.1:8585/callback by default; --callback-port changes only the port."""
    assert redirect_uri(None, None) == "http://127.0.0.1:8585/callback"
    assert redirect_uri(None, 9000) == "http://127.0.0.1:9000/callback"
    ipv6 = AuthConfig(True, True, redirect_uris=("http://[::1]:8585/callback",))
    assert redirect_uri(ipv6, 9001) == "http://[::1]:9001/callback"


def test_authorization_url_carries_pkce_state_nonce_and_force_login() -> None:
    """S256 challenge of the verifier, state, nonce; --force-login adds prompt and max_age."""
    pkce = Pkce.new()
    digest = hashlib.sha256(pkce.verifier.encode()).digest()
    assert pkce.challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert 43 <= len(pkce.verifier) <= 128
    assert Pkce.new().state != pkce.state
    plan = partial_plan(LoginOptions(force_login=True), CONFIG, {}, SERVER)
    plan = attrs.evolve(plan, authorization_endpoint="https://idp/a?tenant=x")
    url = authorization_url(plan, pkce)
    assert url.startswith("https://idp/a?tenant=x&")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["code_challenge"] == pkce.challenge
    assert query["code_challenge_method"] == "S256"
    assert (query["state"], query["nonce"]) == (pkce.state, pkce.nonce)
    assert (query["prompt"], query["max_age"]) == ("login", "0")
    assert query["scope"] == "openid email"


def test_a_browser_is_tried_only_where_one_can_show() -> None:
    """No display on Linux: print the URL only (a text browser would take the terminal)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the display rule is for X11/Wayland systems")
    assert not can_open_browser({})
    assert can_open_browser({"DISPLAY": ":0"})
    assert can_open_browser({"BROWSER": "firefox"})


# -- the callback --------------------------------------------------------------------


def _plan(port: int) -> LoginPlan:
    return LoginPlan(
        issuer="https://idp.example",
        client_id="c",
        authorization_endpoint="https://idp.example/a",
        token_endpoint="https://idp.example/t",
        scopes=("openid",),
        redirect_uri=f"http://127.0.0.1:{port}/callback",
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"code": "c", "state": "other"}, "state mismatch"),
        ({"error": "access_denied", "state": "S"}, "refused the login: access_denied"),
        ({"code": "c", "state": "S", "iss": "https://evil.example"}, "comes from issuer"),
        ({"state": "S"}, "carries no authorization code"),
    ],
    ids=["state", "error", "issuer", "no-code"],
)
async def test_the_callback_refuses_answers_that_are_not_this_logins(
    query: dict[str, str], expected: str
) -> None:
    """Wrong state, a provider error, another issuer (RFC 9207) or no code:
    400 to the browser and ``AuthenticationFailed`` (exit 5) to the CLI."""
    port = free_port()
    callback = Callback(_plan(port), "S")
    async with callback.serving(), httpx.AsyncClient() as browser:
        page = await browser.get(f"http://127.0.0.1:{port}/callback", params=query)
        with pytest.raises(AuthenticationFailed, match=expected) as caught:
            await callback.code()
    assert page.status_code == 400 and expected.split(":")[0] in page.text
    assert exit_code_for(caught.value) == EXIT_AUTH


async def test_the_callback_page_waits_for_the_outcome() -> None:
    """The browser hears of success only when the CLI has finished, and a
    second answer is refused."""
    port = free_port()
    callback = Callback(_plan(port), "S")
    async with callback.serving(), httpx.AsyncClient() as browser:
        pages: list[httpx.Response] = []

        async def visit() -> None:
            url = f"http://127.0.0.1:{port}/callback"
            pages.append(await browser.get(url, params={"code": "c", "state": "S"}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(visit)
            assert await callback.code() == "c"
            await anyio.wait_all_tasks_blocked()  # the page waits for the outcome
            assert pages == []
            callback.finish(None)
        again = await browser.get(
            f"http://127.0.0.1:{port}/callback", params={"code": "d", "state": "S"}
        )
    assert pages[0].status_code == 200 and "logged in" in pages[0].text
    assert again.status_code == 409


async def test_a_busy_callback_port_is_a_clear_error() -> None:
    """Another process on the port: the error names it and --callback-port."""
    port = free_port()
    async with Callback(_plan(port), "S").serving():
        with pytest.raises(CliError, match="--callback-port"):
            async with Callback(_plan(port), "T").serving():
                pass


# -- exit codes ----------------------------------------------------------------------


def test_every_exit_code_is_documented() -> None:
    """The man page's exit-status list covers every code the table can give."""
    documented = {code for code, _ in EXIT_STATUS}
    assert {code for _, code in EXIT_CODES} | {0} <= documented
    assert exit_code_for(Unauthenticated("x")) == EXIT_AUTH == 5
    assert exit_code_for(AuthenticationFailed("x")) == 5
