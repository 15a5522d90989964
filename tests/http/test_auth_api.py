"""Authentication over HTTP: the gate on every route, Bearer and Basic
credentials, the token API, OIDC login and refresh, against the real app."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.testclient import TestClient

from taco_adapters.clock import SystemClock
from taco_adapters.memory import MemoryAuthStore, MemoryRbacStore, MemoryStateStore
from taco_http.app import create_app
from taco_http.settings import Settings
from taco_http.wiring import Adapters
from tests.idp import CLIENT_ID, FakeProvider

STATE = b'{"version": 4, "serial": 1, "lineage": "l-1", "outputs": {}, "resources": []}'


def basic(username: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def start(settings: Settings) -> TestClient:
    adapters = Adapters(
        states=MemoryStateStore(),
        auth=MemoryAuthStore(),
        rbac=MemoryRbacStore(),
        clock=SystemClock(),
    )
    app = create_app(settings, adapters=adapters)
    return TestClient(app)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    return tmp_path / "admin-token"


@pytest.fixture
def client(token_file: Path) -> Iterator[TestClient]:
    """The app with auth on (memory storage); the bootstrap token goes to a file."""
    with start(Settings(storage="memory", admin_token_path=token_file)) as c:
        yield c


@pytest.fixture
def admin(client: TestClient, token_file: Path) -> str:
    """The bootstrap admin token."""
    return token_file.read_text().strip()


def assert_401(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.headers.get_list("www-authenticate") == [
        'Bearer realm="opentaco"',
        'Basic realm="opentaco", charset="UTF-8"',
    ]
    assert response.json()["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/units"),
        ("POST", "/v1/units"),
        ("GET", "/v1/units/app/prod"),
        ("GET", "/v1/backend/app/prod"),
        ("POST", "/v1/backend/app/prod"),
        ("LOCK", "/v1/backend/app/prod"),
        ("GET", "/v1/info"),
        ("GET", "/v1/auth/me"),
        ("GET", "/v1/auth/tokens"),
        ("POST", "/v1/auth/tokens"),
        ("DELETE", "/v1/auth/tokens/x"),
        ("GET", "/v1/no-such-route"),
    ],
)
def test_anonymous_requests_get_401_with_both_challenges(
    client: TestClient, method: str, path: str
) -> None:
    """Every route but the public ones answers 401 naming Bearer and Basic."""
    assert_401(client.request(method, path))


def test_public_routes_need_no_credentials(client: TestClient) -> None:
    """Probes, login configuration, JWKS and the token endpoints stay open."""
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/v1/auth/config").json()["auth_enabled"] is True
    assert client.get("/v1/auth/jwks").json()["keys"]
    assert client.post("/v1/auth/exchange", json={"id_token": "x"}).status_code == 501
    assert_401(client.post("/v1/auth/token", json={"refresh_token": "otr_x"}))
    assert client.post("/v1/auth/logout", json={"refresh_token": "otr_x"}).status_code == 200


def test_bearer_and_basic_with_the_token_as_password(client: TestClient, admin: str) -> None:
    """A token works as Bearer, as the Basic password with any user name, and as
    a Basic user name with an empty password."""
    for headers in (bearer(admin), basic("opentaco", admin), basic("x", admin), basic(admin, "")):
        assert client.get("/v1/units", headers=headers).status_code == 200, headers


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer otc_wrong",
        "Bearer ",
        "Bearer a.b.c",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"user:otc_wrong").decode(),
        "Basic " + base64.b64encode(b":").decode(),
        "Digest username=x",
        "otc_naked",
    ],
)
def test_bad_credentials_get_401(client: TestClient, admin: str, authorization: str) -> None:
    """Wrong, malformed or unsupported credentials are 401, never 500."""
    assert_401(client.get("/v1/units", headers={"Authorization": authorization}))


def test_me_describes_the_caller(client: TestClient, admin: str) -> None:
    """/v1/auth/me names the subject, groups and how the caller authenticated."""
    me = client.get("/v1/auth/me", headers=bearer(admin)).json()
    assert me["subject"] == "admin"
    assert me["kind"] == "api_token"
    assert me["groups"] == []
    assert me["token_id"]


def test_api_token_lifecycle(client: TestClient, admin: str) -> None:
    """Create shows the secret once; list never does; revoke makes it fail at once."""
    created = client.post(
        "/v1/auth/tokens", json={"name": "ci", "expires_in": "90d"}, headers=bearer(admin)
    )
    assert created.status_code == 201, created.text
    doc = created.json()
    secret = doc["token"]
    assert secret.startswith("otc_")
    assert doc["name"] == "ci" and doc["expires"] and doc["revoked"] is None
    assert client.get("/v1/units", headers=basic("ci", secret)).status_code == 200

    listed = client.get("/v1/auth/tokens", headers=bearer(secret)).json()
    assert {t["name"] for t in listed["tokens"]} == {"ci", "bootstrap-admin"}
    assert secret not in str(listed)

    assert client.delete(f"/v1/auth/tokens/{doc['id']}", headers=bearer(admin)).status_code == 204
    assert_401(client.get("/v1/units", headers=basic("ci", secret)))
    assert client.delete("/v1/auth/tokens/nope", headers=bearer(admin)).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": 3},
        {"name": ""},
        {"name": "x", "expires_in": "soon"},
        {"name": "x", "expires_in": -5},
    ],
)
def test_bad_token_requests_get_400(client: TestClient, admin: str, body: dict[str, Any]) -> None:
    """A token request needs a name and a valid lifetime."""
    response = client.post("/v1/auth/tokens", json=body, headers=bearer(admin))
    assert response.status_code == 400, response.text


def test_writes_record_the_caller_as_author(client: TestClient, admin: str) -> None:
    """Versions written through the backend and the API name who wrote them."""
    auth = basic("terraform", admin)
    assert client.post("/v1/backend/app/prod", content=STATE, headers=auth).status_code == 200
    versions = client.get("/v1/units/app/prod/versions", headers=auth).json()["versions"]
    assert versions[0]["author"] == "admin"
    restored = client.post("/v1/units/app/prod/restore", json={"version": 1}, headers=auth)
    assert restored.json()["version"]["author"] == "admin"


def test_jwks_verifies_our_access_tokens_with_a_plain_jwt_library(provider: FakeProvider) -> None:
    """A third party can check our access tokens with nothing but the JWKS."""
    settings = Settings(storage="memory", auth_issuer=provider.issuer, auth_client_id=CLIENT_ID)
    with start(settings) as client:
        issued = client.post("/v1/auth/exchange", json={"id_token": provider.mint()}).json()
        keys = KeySet.import_key_set(client.get("/v1/auth/jwks").json())
    token = jwt.decode(issued["access_token"], keys, algorithms=["ES256"])
    assert token.claims["sub"] == "alice"
    assert token.claims["iss"] == "http://127.0.0.1:8080"


@pytest.fixture
def oidc_client(provider: FakeProvider) -> Iterator[TestClient]:
    """The app with OIDC login through the stand-in provider."""
    settings = Settings(storage="memory", auth_issuer=provider.issuer, auth_client_id=CLIENT_ID)
    with start(settings) as c:
        yield c


def test_config_publishes_what_a_login_client_needs(
    oidc_client: TestClient, provider: FakeProvider
) -> None:
    """Issuer, client ID, endpoints from discovery, the CLI's redirect URI."""
    config = oidc_client.get("/v1/auth/config").json()
    assert config == {
        "auth_enabled": True,
        "oidc_enabled": True,
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "authorization_endpoint": f"{provider.issuer}/auth",
        "token_endpoint": f"{provider.issuer}/token",
        "redirect_uris": ["http://127.0.0.1:8585/callback"],
        "scopes": ["openid", "profile", "email"],
    }


def test_oidc_exchange_refresh_and_logout(oidc_client: TestClient, provider: FakeProvider) -> None:
    """An ID token buys tokens; the access token calls the API; refresh rotates
    and a reused refresh token is refused; logout ends the session."""
    c = oidc_client
    first = c.post("/v1/auth/exchange", json={"id_token": provider.mint()})
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert first.headers["cache-control"] == "no-store"
    me = c.get("/v1/auth/me", headers=bearer(tokens["access_token"])).json()
    assert me == {
        "subject": "alice",
        "email": "alice@example.test",
        "groups": ["platform"],
        "kind": "user",
    }
    assert c.get("/v1/units", headers=basic("x", tokens["access_token"])).status_code == 200

    second = c.post("/v1/auth/token", json={"refresh_token": tokens["refresh_token"]}).json()
    assert c.get("/v1/auth/me", headers=bearer(second["access_token"])).json() == me
    assert_401(c.post("/v1/auth/token", json={"refresh_token": tokens["refresh_token"]}))
    assert_401(c.post("/v1/auth/token", json={"refresh_token": second["refresh_token"]}))

    third = c.post("/v1/auth/exchange", json={"id_token": provider.mint()}).json()
    assert c.post("/v1/auth/logout", json={"refresh_token": third["refresh_token"]}).is_success
    assert_401(c.post("/v1/auth/token", json={"refresh_token": third["refresh_token"]}))


def test_refresh_tokens_are_not_credentials(
    oidc_client: TestClient, provider: FakeProvider
) -> None:
    """A refresh token sent as Bearer is refused."""
    tokens = oidc_client.post("/v1/auth/exchange", json={"id_token": provider.mint()}).json()
    assert_401(oidc_client.get("/v1/units", headers=bearer(tokens["refresh_token"])))


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"id_token": 5}, 400),
        ({"id_token": "not-a-jwt"}, 401),
        ({"id_token": "a.b.c"}, 401),
    ],
)
def test_bad_exchange_requests(oidc_client: TestClient, body: dict[str, Any], status: int) -> None:
    """A malformed request is 400; a bad ID token is 401."""
    assert oidc_client.post("/v1/auth/exchange", json=body).status_code == status


def test_exchange_refuses_tokens_for_another_client(
    oidc_client: TestClient, provider: FakeProvider
) -> None:
    """An ID token minted for another application does not log in here."""
    response = oidc_client.post(
        "/v1/auth/exchange", json={"id_token": provider.mint(aud="someone-else")}
    )
    assert_401(response)


def test_unreachable_provider_is_502(oidc_client: TestClient, provider: FakeProvider) -> None:
    """When the provider's keys cannot be fetched, exchange says so (502)."""
    provider.down = True
    response = oidc_client.post("/v1/auth/exchange", json={"id_token": provider.mint()})
    assert response.status_code == 502, response.text


def test_auth_disabled_lets_anyone_in_as_anonymous() -> None:
    """With auth disabled every route is open and the caller is anonymous."""
    with start(Settings(storage="memory", auth_disable=True)) as client:
        assert client.get("/v1/units").status_code == 200
        assert client.get("/v1/auth/me").json()["kind"] == "anonymous"
        assert client.get("/v1/auth/config").json()["auth_enabled"] is False
        assert client.post("/v1/auth/tokens", json={"name": "ci"}).status_code == 403


def test_a_token_made_with_a_token_is_its_capped_child(client: TestClient, admin: str) -> None:
    """Over HTTP, a token created with an API token names it as parent, expires no
    later than it, and is revoked with it."""
    parent = client.post(
        "/v1/auth/tokens", json={"name": "ci", "expires_in": "30d"}, headers=bearer(admin)
    ).json()
    child = client.post(
        "/v1/auth/tokens",
        json={"name": "job", "expires_in": "365d"},
        headers=bearer(parent["token"]),
    ).json()
    assert child["parent"] == parent["id"]
    assert child["expires"] == parent["expires"]
    assert (
        client.delete(f"/v1/auth/tokens/{parent['id']}", headers=bearer(admin)).status_code == 204
    )
    assert_401(client.get("/v1/auth/me", headers=bearer(child["token"])))
