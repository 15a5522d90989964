"""The web UI's sessions and their defences, in-process: login with a token,
the session cookie, CSRF, logout, revocation, the OIDC login's start and
refusals, security headers, methods, and hostile parameters (4xx, never 500)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from taco_adapters.clock import ManualClock
from taco_adapters.memory import MemoryAuthStore, MemoryRbacStore, MemoryStateStore
from taco_http.app import create_app
from taco_http.settings import Settings
from taco_http.wiring import Adapters
from tests.http.ui_helpers import App, UiBrowser, app, bearer, start, state
from tests.idp import CLIENT_ID, FakeProvider

__all__ = ["app"]

UNIT = "team/app"

# Every page a signed-in browser GETs, and every form it POSTs.
PAGES = [
    "/ui/",
    "/ui/deleted",
    f"/ui/units/{UNIT}",
    f"/ui/history/{UNIT}",
    f"/ui/diff/{UNIT}",
    f"/ui/unlock/{UNIT}",
    f"/ui/restore/{UNIT}?version=1",
    "/ui/rbac",
    "/ui/rbac/test",
    "/ui/graph",
    "/ui/audit",
]
FORMS = [
    "/ui/logout",
    f"/ui/undelete/{UNIT}",
    f"/ui/unlock/{UNIT}",
    f"/ui/restore/{UNIT}",
    "/ui/rbac/assign",
    "/ui/rbac/revoke",
]


@pytest.fixture
def written(app: App) -> App:
    app.write(UNIT, state(1, input="a"))
    app.write(UNIT, state(2, input="b"))
    return app


def test_root_and_bare_ui_lead_to_the_units() -> None:
    """/ and /ui send the browser to /ui/."""
    with start(Settings(storage="memory", auth_disable=True)) as client:
        assert client.get("/", follow_redirects=False).headers["location"] == "/ui/"
        assert client.get("/ui", follow_redirects=False).headers["location"].endswith("/ui/")


@pytest.mark.parametrize("page", PAGES)
def test_every_page_sends_a_stranger_to_the_login(app: App, page: str) -> None:
    """Without a session every page redirects to the login, remembering where it was."""
    response = app.browser().get(page)
    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert target.path == "/ui/login"
    assert parse_qs(target.query)["next"] == [page]


@pytest.mark.parametrize("form", FORMS)
def test_every_form_refuses_a_stranger(written: App, form: str) -> None:
    """A form posted without a session is refused (401) and changes nothing."""
    before = written.api("GET", "/v1/rbac/users")
    response = written.browser().post(form, {"subject": "x", "role_id": "admin", "version": "1"})
    assert response.status_code == 401
    assert written.api("GET", "/v1/rbac/users") == before
    assert written.api("GET", f"/v1/units/{UNIT}/versions")["total"] == 2


def test_token_login_sets_a_fresh_httponly_lax_cookie(app: App) -> None:
    """Logging in replaces the visitor's session by a new one, in an HttpOnly,
    SameSite=Lax cookie (not Secure over plain HTTP)."""
    browser = app.browser()
    browser.get("/ui/login")
    before = browser.jar.get("opentaco_ui")
    response = browser.post("/ui/login", {"token": app.admin, "next": "/ui/deleted"})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/deleted"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert browser.jar.get("opentaco_ui") not in (None, before)
    page = browser.get("/ui/deleted")
    assert page.status_code == 200 and "admin" in page.text


def test_secure_cookie_under_tls(tmp_path) -> None:
    """With an https public URL the cookie is Secure and __Host- prefixed."""
    token_file = tmp_path / "admin-token"
    settings = Settings(
        storage="memory", admin_token_path=token_file, public_base_url="https://taco.example"
    )
    with start(settings) as client:
        browser = UiBrowser(client)
        page = browser.get("/ui/login")
        cookie = page.headers["set-cookie"]
        assert cookie.startswith("__Host-opentaco_ui=") and "Secure" in cookie
        assert "Path=/" in cookie


def test_a_wrong_token_is_refused_with_the_reason(app: App) -> None:
    """An unknown token gets the login page again, 401, saying why."""
    browser = app.browser()
    browser.get("/ui/login")
    response = browser.post("/ui/login", {"token": "otc_not-a-token"})
    assert response.status_code == 401
    assert "API token unknown, revoked or expired" in response.text
    assert browser.get("/ui/").status_code == 303


def test_a_login_needs_the_login_pages_csrf_token(app: App) -> None:
    """The login form itself carries a CSRF token (no login CSRF)."""
    browser = app.browser()
    browser.get("/ui/login")
    assert browser.post("/ui/login", {"token": app.admin}, csrf=False).status_code == 403
    assert browser.get("/ui/").status_code == 303


def test_open_redirects_are_not_followed(app: App) -> None:
    """``next`` pointing anywhere but our pages lands on the units instead."""
    browser = app.browser()
    browser.get("/ui/login")
    for target in ("https://evil.example/", "//evil.example/ui/", "/ui/\\evil", "/v1/units"):
        browser.get("/ui/login")
        response = browser.post("/ui/login", {"token": app.admin, "next": target})
        assert response.headers["location"] == "/ui/", target
        browser.post("/ui/logout", {})


def test_forms_without_the_csrf_token_change_nothing(written: App) -> None:
    """A form with no, or the wrong, CSRF token, or sent cross-site, is
    refused with 403 and does nothing; the page's own token works."""
    written.api("POST", f"/v1/units/{UNIT}/lock", {"ID": "held-1", "Who": "ci@runner"})
    browser = written.browser(written.admin)
    browser.get(f"/ui/unlock/{UNIT}")
    assert browser.post(f"/ui/unlock/{UNIT}", {"lock_id": "held-1"}, csrf=False).status_code == 403
    forged = browser.post(f"/ui/unlock/{UNIT}", {"lock_id": "held-1", "csrf_token": "guess"})
    assert forged.status_code == 403
    cross = browser.request(
        "POST",
        f"/ui/unlock/{UNIT}",
        data={"lock_id": "held-1", "csrf_token": browser.csrf},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 403
    assert "CSRF" in cross.text
    assert written.api("GET", f"/v1/units/{UNIT}")["locked"] is True
    assert browser.post(f"/ui/unlock/{UNIT}", {"lock_id": "held-1"}).status_code == 303
    assert written.api("GET", f"/v1/units/{UNIT}")["locked"] is False


def test_another_sessions_csrf_token_is_refused(written: App) -> None:
    """The CSRF token is the session's own: another browser's does not work."""
    alice, mallory = written.browser(written.admin), written.browser(written.admin)
    mallory.get("/ui/")
    alice.get(f"/ui/restore/{UNIT}?version=1")
    response = alice.post(f"/ui/restore/{UNIT}", {"version": "1", "csrf_token": mallory.csrf})
    assert response.status_code == 403
    assert written.api("GET", f"/v1/units/{UNIT}/versions")["total"] == 2


def test_logout_ends_the_session(app: App) -> None:
    """After logout the old cookie signs in nobody."""
    browser = app.browser(app.admin)
    old = dict(browser.jar)
    browser.get("/ui/")
    response = browser.post("/ui/logout", {})
    assert response.headers["location"] == "/ui/login"
    assert "You are logged out." in browser.follow(response).text
    replay = app.browser()
    replay.jar.update(old)
    assert replay.get("/ui/").status_code == 303


def test_a_revoked_token_ends_its_sessions_at_once(app: App) -> None:
    """Revoking the API token a session signed in with signs the browser out."""
    made = app.api("POST", "/v1/auth/tokens", {"name": "ui", "subject": "admin"}, 201)
    browser = app.browser(made["token"])
    assert browser.get("/ui/").status_code == 200
    app.api("DELETE", f"/v1/auth/tokens/{made['id']}", status=204)
    response = browser.get("/ui/")
    assert response.status_code == 303
    assert "Your session ended" in browser.follow(response).text


def test_pages_carry_the_security_headers(written: App) -> None:
    """Pages run no script, cannot be framed and are never cached."""
    page = written.browser(written.admin).get(f"/ui/units/{UNIT}")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script" not in page.text


def test_the_stylesheet_is_served_from_the_package(app: App) -> None:
    """The stylesheet comes from package data, without a session."""
    css = app.client.get("/ui/static/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert app.client.post("/ui/static/style.css").status_code == 405


@pytest.mark.parametrize("page", PAGES)
def test_head_answers_like_get_without_a_body(written: App, page: str) -> None:
    """HEAD of a page has GET's status and no body."""
    browser = written.browser(written.admin)
    got, head = browser.get(page), browser.request("HEAD", page)
    assert head.status_code == got.status_code
    assert head.content == b""


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", [*PAGES, *FORMS, "/ui/login"])
def test_other_methods_get_405(written: App, method: str, path: str) -> None:
    """Methods a page does not serve are refused with 405."""
    browser = written.browser(written.admin)
    assert browser.request(method, path).status_code == 405


def test_unknown_pages_are_an_html_404(written: App) -> None:
    """A path under /ui/ that is no page answers an HTML 404."""
    response = written.browser(written.admin).get("/ui/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_auth_disabled_shows_a_banner_and_needs_no_login() -> None:
    """With authentication disabled every page is open and says so."""
    with start(Settings(storage="memory", auth_disable=True)) as client:
        page = UiBrowser(client).get("/ui/")
        assert page.status_code == 200
        assert "Authentication is disabled on this server." in page.text
        assert UiBrowser(client).get("/ui/login").headers["location"] == "/ui/"


PARAMS = ["prefix", "q", "after", "limit", "offset", "from", "to", "version", "action", "resource",
          "unit", "subject", "groups", "next", "since"]  # fmt: skip
hostile = st.text(
    st.characters(codec="utf-8") | st.sampled_from(["\x00", "%", "/"]),
    max_size=30,
) | st.sampled_from(["-1", "0", "9" * 30, "1e3", "²", "..", "__opentaco_x", " "])


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    token_file = tmp_path_factory.mktemp("hostile") / "admin-token"
    with start(Settings(storage="memory", admin_token_path=token_file)) as client:
        app = App(client, token_file.read_text().strip())
        app.write(UNIT, state(1, input="a"))
        app.write(UNIT, state(2, input="b"))
        yield app


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    page=st.sampled_from([*PAGES, "/ui/login"]),
    params=st.dictionaries(st.sampled_from(PARAMS), hostile, max_size=4),
)
def test_hostile_query_parameters_never_reach_a_500(
    hostile_app: App, page: str, params: dict[str, str]
) -> None:
    """Any query parameters on any page get a page or a 4xx, never a server error."""
    browser = UiBrowser(hostile_app.client)
    browser.login(hostile_app.admin)
    path = page.split("?")[0]
    response = browser.get(path, params=params)
    assert response.status_code < 500, (path, params, response.text[:500])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    form=st.sampled_from(FORMS[1:]),
    fields=st.dictionaries(st.sampled_from(["version", "lock_id", "subject", "role_id"]), hostile),
)
def test_hostile_forms_never_reach_a_500(
    hostile_app: App, form: str, fields: dict[str, str]
) -> None:
    """Any field values in a form with a good CSRF token get a page or a 4xx."""
    browser = UiBrowser(hostile_app.client)
    browser.login(hostile_app.admin)
    browser.get("/ui/")
    response = browser.post(form, fields)
    assert response.status_code < 500, (form, fields, response.text[:500])


def test_a_form_of_the_wrong_kind_or_size_is_refused(written: App) -> None:
    """A UI form must be urlencoded and small: JSON or 100 KB bodies get 4xx."""
    browser = written.browser(written.admin)
    browser.get("/ui/")
    as_json = browser.request("POST", "/ui/rbac/assign", json={"csrf_token": browser.csrf})
    assert as_json.status_code == 400
    huge = browser.post("/ui/rbac/assign", {"subject": "x" * 100_000})
    assert huge.status_code == 413


# -- the OIDC login's start and its refusals (the whole login runs in tests/e2e) --


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    idp = FakeProvider().start()
    try:
        yield idp
    finally:
        idp.stop()


@pytest.fixture
def oidc_app(provider: FakeProvider) -> Iterator[App]:
    """The app with OIDC login through the stand-in provider (no admin token
    is made on an OIDC install)."""
    settings = Settings(storage="memory", auth_issuer=provider.issuer, auth_client_id=CLIENT_ID)
    with start(settings) as client:
        yield App(client, "")


def test_oidc_login_starts_at_the_provider_with_pkce(oidc_app: App, provider: FakeProvider) -> None:
    """The login page offers the provider; following it leads to the
    authorization endpoint with an S256 challenge, state, nonce and our callback."""
    browser = oidc_app.browser()
    assert "Log in with your identity provider" in browser.get("/ui/login").text
    response = browser.get("/ui/login/oidc?next=/ui/deleted")
    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{provider.issuer}/auth"
    query = parse_qs(target.query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == ["http://testserver/ui/auth/callback"]
    assert len(query["code_challenge"][0]) == 43
    assert query["state"][0] and query["nonce"][0]
    assert "openid" in query["scope"][0].split()


def test_a_callback_not_started_here_is_refused(oidc_app: App) -> None:
    """An answer with another state, or with no login under way, or replayed, is refused."""
    browser = oidc_app.browser()
    assert browser.get("/ui/auth/callback?code=c&state=s").status_code == 400
    started = urlsplit(browser.get("/ui/login/oidc").headers["location"])
    state_value = parse_qs(started.query)["state"][0]
    assert browser.get("/ui/auth/callback?code=c&state=other").status_code == 400
    # The failed attempt used the login up: the right state no longer works either.
    assert browser.get(f"/ui/auth/callback?code=c&state={state_value}").status_code == 400
    assert browser.get("/ui/").status_code == 303


def test_a_provider_error_shows_on_the_login_page(oidc_app: App) -> None:
    """error=access_denied from the provider is shown, nobody signed in."""
    browser = oidc_app.browser()
    started = urlsplit(browser.get("/ui/login/oidc").headers["location"])
    state_value = parse_qs(started.query)["state"][0]
    response = browser.get(
        f"/ui/auth/callback?error=access_denied&error_description=no&state={state_value}"
    )
    assert response.status_code == 401
    assert "refused the login: access_denied (no)" in response.text
    assert browser.get("/ui/").status_code == 303


def test_a_wrong_issuer_in_the_answer_is_refused(oidc_app: App) -> None:
    """An answer naming another issuer (RFC 9207) is refused before any code swap."""
    browser = oidc_app.browser()
    started = urlsplit(browser.get("/ui/login/oidc").headers["location"])
    state_value = parse_qs(started.query)["state"][0]
    response = browser.get(f"/ui/auth/callback?code=c&state={state_value}&iss=https://evil.example")
    assert response.status_code == 401 and "another issuer" in response.text


def test_without_a_provider_the_oidc_start_says_so(app: App) -> None:
    """With no provider configured the OIDC start is 501 and the page offers tokens only."""
    browser = app.browser()
    assert "identity provider" not in browser.get("/ui/login").text
    assert browser.get("/ui/login/oidc").status_code == 501


def test_api_requests_still_need_a_credential(app: App) -> None:
    """Letting /ui/ through the API's authentication opens nothing else."""
    client: TestClient = app.client
    assert client.get("/v1/units").status_code == 401
    assert client.get("/v1/units", headers=bearer(app.admin)).status_code == 200


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def oidc_clocked(provider: FakeProvider, clock: ManualClock) -> Iterator[TestClient]:
    """The app with OIDC login, on a clock the test moves; alice is an admin."""
    settings = Settings(
        storage="memory",
        auth_issuer=provider.issuer,
        auth_client_id=CLIENT_ID,
        rbac_subject_roles="alice=admin",
    )
    adapters = Adapters(
        states=MemoryStateStore(), auth=MemoryAuthStore(), rbac=MemoryRbacStore(), clock=clock
    )
    with TestClient(create_app(settings, adapters=adapters)) as client:
        yield client


def oidc_login(browser: UiBrowser, provider: FakeProvider, **claims: Any) -> Any:
    """A login through the stand-in provider: it grants a code for the
    login's PKCE challenge, with an ID token carrying the login's nonce, and
    the browser comes back with it."""
    started = browser.get("/ui/login/oidc?next=/ui/deleted").headers["location"]
    query = parse_qs(urlsplit(started).query)
    claims.setdefault("nonce", query["nonce"][0])
    provider.grant("the-code", query["code_challenge"][0], **claims)
    return browser.get(
        f"/ui/auth/callback?code=the-code&state={query['state'][0]}&iss={provider.issuer}"
    )


def test_a_whole_oidc_login_in_process(oidc_clocked: TestClient, provider: FakeProvider) -> None:
    """The callback redeems the code with the login's PKCE verifier, the ID
    token is exchanged, and the browser lands where it started, signed in."""
    browser = UiBrowser(oidc_clocked)
    done = oidc_login(browser, provider)
    assert done.status_code == 303 and done.headers["location"] == "/ui/deleted"
    (form,) = provider.redeemed
    assert form["code"] == "the-code"
    assert form["redirect_uri"] == "http://testserver/ui/auth/callback"
    assert len(form["code_verifier"]) >= 43
    page = browser.follow(done)
    assert (
        page.status_code == 200 and '<span class="subject" title="user">alice</span>' in page.text
    )


def test_an_id_token_for_another_login_is_refused(
    oidc_clocked: TestClient, provider: FakeProvider
) -> None:
    """An ID token whose nonce is not this login's signs nobody in."""
    browser = UiBrowser(oidc_clocked)
    refused = oidc_login(browser, provider, nonce="someone-elses")
    assert refused.status_code == 401 and "nonce" in refused.text
    assert browser.get("/ui/").status_code == 303


def test_an_expired_access_token_is_renewed_and_a_dead_session_ends(
    oidc_clocked: TestClient, provider: FakeProvider, clock: ManualClock
) -> None:
    """Past the access token's hour the session renews it with its refresh
    token, unnoticed; past the refresh token's life the browser must log in."""
    browser = UiBrowser(oidc_clocked)
    browser.follow(oidc_login(browser, provider))
    clock.advance(2 * 3600)
    assert browser.get("/ui/").status_code == 200
    clock.advance(3600 + 60)
    assert browser.get("/ui/").status_code == 200
    clock.advance(31 * 24 * 3600)
    gone = browser.get("/ui/")
    assert gone.status_code == 303
    assert "log in again" in browser.follow(gone).text
