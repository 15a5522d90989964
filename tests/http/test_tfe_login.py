"""``terraform login``'s OAuth endpoints in process, against the stand-in
OIDC provider: the whole dance, and every way a request can be wrong."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from taco_adapters.clock import SystemClock
from taco_adapters.memory import MemoryAuthStore, MemoryRbacStore, MemoryStateStore
from taco_http.app import create_app
from taco_http.settings import Settings
from taco_http.wiring import Adapters
from tests.idp import CLIENT_ID, FakeProvider

VERIFIER = "7c1b7c9e-2d6a-4f39-9d55-d2f3f6d0e7a1.123456789"
REDIRECT = "http://localhost:10003/login"


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def client(provider: FakeProvider, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        storage="memory",
        auth_issuer=provider.issuer,
        auth_client_id=CLIENT_ID,
        admin_token_path=tmp_path / "t",
    )
    adapters = Adapters(
        states=MemoryStateStore(),
        auth=MemoryAuthStore(),
        rbac=MemoryRbacStore(),
        clock=SystemClock(),
    )
    app = create_app(settings, adapters=adapters)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        yield c


def authorize(client: TestClient, **changes: str) -> Any:
    params = {
        "client_id": "terraform-cli",
        "code_challenge": s256(VERIFIER),
        "code_challenge_method": "S256",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "state": "tf-state-1",
        **changes,
    }
    return client.get("/oauth/authorization", params=params)


def through_provider(client: TestClient, provider: FakeProvider, **claims: Any) -> Any:
    """Authorization, then the provider's answer at our callback."""
    sent = authorize(client)
    assert sent.status_code == 302, sent.text
    asked = query(sent.headers["location"])
    provider.grant("idp-code", asked["code_challenge"], nonce=asked["nonce"], **claims)
    return client.get("/oauth/callback", params={"code": "idp-code", "state": asked["state"]})


def token_form(code: str, **changes: str) -> dict[str, str]:
    return {
        "client_id": "terraform-cli",
        "code": code,
        "code_verifier": VERIFIER,
        "grant_type": "authorization_code",
        "redirect_uri": REDIRECT,
        **changes,
    }


def test_discovery_offers_login_with_oidc(client: TestClient) -> None:
    """With a provider configured, login.v1 names our endpoints and ports."""
    login = client.get("/.well-known/terraform.json").json()["login.v1"]
    assert login == {
        "client": "terraform-cli",
        "grant_types": ["authz_code"],
        "authz": "/oauth/authorization",
        "token": "/oauth/token",
        "ports": [10000, 10010],
    }


def test_a_login_ends_in_an_api_token_acting_as_the_person(
    client: TestClient, provider: FakeProvider
) -> None:
    """Authorization sends the browser to the provider with our own PKCE
    challenge and nonce; the callback redeems the provider's code (with our
    verifier) and sends the browser back to Terraform with its state; the
    token endpoint trades our code and Terraform's verifier for an API token
    acting as the person, revocable like any."""
    sent = authorize(client)
    assert sent.status_code == 302
    target = sent.headers["location"]
    assert target.startswith(f"{provider.issuer}/auth?")
    asked = query(target)
    assert asked["client_id"] == CLIENT_ID
    assert asked["redirect_uri"] == "https://testserver/oauth/callback"
    assert asked["code_challenge_method"] == "S256"
    assert asked["code_challenge"] != s256(VERIFIER)
    assert set(asked["scope"].split()) == {"openid", "profile", "email"}
    provider.grant("idp-code", asked["code_challenge"], nonce=asked["nonce"])
    back = client.get("/oauth/callback", params={"code": "idp-code", "state": asked["state"]})
    assert back.status_code == 302, back.text
    assert back.headers["location"].startswith(f"{REDIRECT}?")
    returned = query(back.headers["location"])
    assert returned["state"] == "tf-state-1"
    assert provider.redeemed[-1]["redirect_uri"] == "https://testserver/oauth/callback"

    issued = client.post("/oauth/token", data=token_form(returned["code"]))
    assert issued.status_code == 200, issued.text
    assert issued.headers["cache-control"] == "no-store"
    token = issued.json()["access_token"]
    assert token.startswith("otc_") and issued.json()["token_type"] == "bearer"
    me = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert (me["subject"], me["email"], me["kind"]) == ("alice", "alice@example.test", "api_token")
    mine = client.get("/v1/auth/tokens", headers={"Authorization": f"Bearer {token}"}).json()
    assert [t["name"] for t in mine["tokens"]] == ["terraform login"]
    revoked = client.delete(
        f"/v1/auth/tokens/{me['token_id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert revoked.status_code == 204
    assert (
        client.get(
            "/api/v2/account/details", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 401
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"redirect_uri": "https://evil.example/login"},
        {"redirect_uri": "http://evil.example:10003/login"},
        {"redirect_uri": "http://localhost:10011/login"},
        {"redirect_uri": "http://localhost:10003"},
        {"redirect_uri": "http://user:pw@localhost:10003/login"},
        {"redirect_uri": "not a url at all ["},
        {"code_challenge_method": "plain"},
        {"code_challenge": "short"},
        {"client_id": "someone-else"},
        {"response_type": "token"},
        {"state": ""},
    ],
)
def test_malformed_authorizations_are_refused_before_the_provider(
    client: TestClient, changes: dict[str, str]
) -> None:
    """Only Terraform's own loopback listener, PKCE S256 and our client ID pass."""
    reply = authorize(client, **changes)
    assert reply.status_code == 400
    assert reply.text.startswith("terraform login:")


def test_loopback_addresses_are_accepted(client: TestClient) -> None:
    """127.0.0.1 and ::1 are Terraform's listener too."""
    for uri in ("http://127.0.0.1:10000/login", "http://[::1]:10010/login"):
        assert authorize(client, redirect_uri=uri).status_code == 302


def test_a_tampered_state_or_a_refusal_stops_at_the_callback(
    client: TestClient, provider: FakeProvider
) -> None:
    """A state we did not sign, or the provider's error, is a 400 page."""
    asked = query(authorize(client).headers["location"])
    forged = asked["state"][:-2] + ("AA" if not asked["state"].endswith("AA") else "BB")
    assert client.get("/oauth/callback", params={"code": "x", "state": forged}).status_code == 400
    refused = client.get(
        "/oauth/callback", params={"error": "access_denied", "state": asked["state"]}
    )
    assert refused.status_code == 400 and "access_denied" in refused.text
    assert client.get("/oauth/callback", params={"state": asked["state"]}).status_code == 400


def test_an_id_token_from_another_login_is_refused(
    client: TestClient, provider: FakeProvider
) -> None:
    """The ID token must carry this login's nonce; the provider's refusal of a
    code is a 401 page."""
    asked = query(authorize(client).headers["location"])
    provider.grant("c1", asked["code_challenge"], nonce="someone-elses")
    assert (
        client.get("/oauth/callback", params={"code": "c1", "state": asked["state"]}).status_code
        == 401
    )
    unknown = client.get(
        "/oauth/callback", params={"code": "never-granted", "state": asked["state"]}
    )
    assert unknown.status_code == 401 and "invalid_grant" in unknown.text


@pytest.mark.parametrize(
    ("changes", "status", "error"),
    [
        ({"code_verifier": "0" * 50}, 400, "invalid_grant"),
        ({"code_verifier": "short"}, 400, "invalid_request"),
        ({"redirect_uri": "http://localhost:10004/login"}, 400, "invalid_grant"),
        ({"client_id": "other"}, 401, "invalid_client"),
        ({"grant_type": "refresh_token"}, 400, "unsupported_grant_type"),
        ({"code": "forged.code"}, 400, "invalid_grant"),
        ({"code": ""}, 400, "invalid_grant"),
    ],
)
def test_the_token_endpoint_checks_the_code_pkce_and_client(
    client: TestClient,
    provider: FakeProvider,
    changes: dict[str, str],
    status: int,
    error: str,
) -> None:
    """Each mismatch is the OAuth error Terraform prints; no token is made."""
    code = query(through_provider(client, provider).headers["location"])["code"]
    reply = client.post("/oauth/token", data={**token_form(code), **changes})
    assert reply.status_code == status, reply.text
    assert reply.json()["error"] == error


def test_a_state_is_not_a_code(client: TestClient, provider: FakeProvider) -> None:
    """Our state, though signed by us, does not redeem as an authorization code."""
    state = query(authorize(client).headers["location"])["state"]
    reply = client.post("/oauth/token", data=token_form(state))
    assert (reply.status_code, reply.json()["error"]) == (400, "invalid_grant")


def test_hostile_token_requests_never_get_a_5xx(client: TestClient) -> None:
    """Garbage forms, huge or not UTF-8, get 4xx."""
    for body in (b"", b"\xff\xfe", b"a=" + b"b" * 70_000, b"%%%&&&==", b"code=a&code=b"):
        reply = client.post(
            "/oauth/token",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert 400 <= reply.status_code < 500, (body[:20], reply.text)


def test_without_oidc_login_is_not_offered(tmp_path: Path) -> None:
    """No provider: no login.v1, the endpoints say so (4xx)."""
    settings = Settings(storage="memory", admin_token_path=tmp_path / "t")
    adapters = Adapters(
        states=MemoryStateStore(),
        auth=MemoryAuthStore(),
        rbac=MemoryRbacStore(),
        clock=SystemClock(),
    )
    with TestClient(create_app(settings, adapters=adapters)) as client:
        assert "login.v1" not in client.get("/.well-known/terraform.json").json()
        page = client.get("/oauth/authorization")
        assert page.status_code == 404 and "taco token create" in page.text
        assert client.post("/oauth/token", data={}).json()["error"] == "unsupported_grant_type"
