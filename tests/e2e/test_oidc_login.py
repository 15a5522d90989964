"""OIDC login end to end: a real OpenID provider (npm oidc-provider, PKCE S256
required), the headless authorization-code flow, and a real ``opentacosvc``
exchanging the ID token for its own tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.oidc_provider import (
    NodeMissing,
    Pkce,
    Provider,
    authorize,
    running_provider,
    token_request,
)
from tests.servers import Server, running_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """The real provider, installed by ``npm ci`` on first use. Without Node.js
    the tests fail with the install command (never skip)."""
    try:
        with running_provider(tmp_path_factory.mktemp("oidc")) as started:
            yield started
    except NodeMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def taco(provider: Provider, tmp_path: Path) -> Iterator[Server]:
    """opentacosvc with auth on and the provider as its OIDC issuer."""
    env = {
        "OPENTACO_AUTH_ISSUER": provider.issuer,
        "OPENTACO_AUTH_CLIENT_ID": provider.client_id,
        # The provider sends no groups: alice is made an admin by configuration.
        "OPENTACO_RBAC_SUBJECT_ROLES": "alice=admin",
    }
    with running_server(tmp_path / "svc", env=env, auth_disable=False) as server:
        yield server


def login(provider: Provider, name: str = "alice") -> tuple[str, Pkce]:
    """A full PKCE login at the provider; the ID token and the login's secrets."""
    pkce = Pkce.new()
    redirect = authorize(provider, pkce, name)
    assert redirect["state"] == [pkce.state], redirect
    assert redirect["iss"] == [provider.issuer]
    reply = token_request(provider, redirect["code"][0], pkce.verifier)
    assert reply.status_code == 200, reply.text
    id_token: str = reply.json()["id_token"]
    return id_token, pkce


def test_pkce_is_enforced_by_the_provider(provider: Provider) -> None:
    """The provider really requires PKCE: no challenge or a wrong verifier fails."""
    refused = authorize(provider, None, "alice")
    assert refused["error"] == ["invalid_request"], refused
    pkce = Pkce.new()
    redirect = authorize(provider, pkce, "alice")
    reply = token_request(provider, redirect["code"][0], Pkce.new().verifier)
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_grant"


def test_login_exchange_and_api_access(provider: Provider, taco: Server) -> None:
    """The ID token from a real login buys our tokens, which call the API as
    the user, with Bearer and with Basic (as Terraform sends them)."""
    config = httpx.get(f"{taco.url}/v1/auth/config").json()
    assert config["issuer"] == provider.issuer
    assert config["client_id"] == provider.client_id
    assert config["authorization_endpoint"] == f"{provider.issuer}/auth"
    assert config["token_endpoint"] == f"{provider.issuer}/token"

    id_token, pkce = login(provider, "alice")
    assert httpx.get(f"{taco.url}/v1/units").status_code == 401
    reply = httpx.post(
        f"{taco.url}/v1/auth/exchange", json={"id_token": id_token, "nonce": pkce.nonce}
    )
    assert reply.status_code == 200, reply.text
    tokens = reply.json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = httpx.get(f"{taco.url}/v1/auth/me", headers=bearer).json()
    assert me == {
        "subject": "alice",
        "email": "alice@example.test",
        "groups": [],
        "kind": "user",
    }
    created = httpx.post(f"{taco.url}/v1/units", json={"id": "app/prod"}, headers=bearer)
    assert created.status_code == 201, created.text
    listed = httpx.get(f"{taco.url}/v1/units", auth=("terraform", tokens["access_token"]))
    assert [u["id"] for u in listed.json()["units"]] == ["app/prod"]


def test_refresh_rotation_end_to_end(provider: Provider, taco: Server) -> None:
    """A refresh hands out new tokens; replaying the old refresh token is
    refused and ends the session; a fresh login still works, and, bob
    holding no role, is refused every unit."""
    id_token, _ = login(provider, "bob")
    first = httpx.post(f"{taco.url}/v1/auth/exchange", json={"id_token": id_token}).json()
    second = httpx.post(f"{taco.url}/v1/auth/token", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    me = httpx.get(
        f"{taco.url}/v1/auth/me", headers={"Authorization": f"Bearer {rotated['access_token']}"}
    ).json()
    assert (me["subject"], me["email"]) == ("bob", "bob@example.test")

    replay = httpx.post(f"{taco.url}/v1/auth/token", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert "already used" in replay.json()["error"]
    revoked = httpx.post(
        f"{taco.url}/v1/auth/token", json={"refresh_token": rotated["refresh_token"]}
    )
    assert revoked.status_code == 401

    again, _ = login(provider, "bob")
    fresh = httpx.post(f"{taco.url}/v1/auth/exchange", json={"id_token": again})
    assert fresh.is_success
    # bob holds no role: deny by default, as a 403 naming the action, never a 500.
    bearer = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
    refused = httpx.post(f"{taco.url}/v1/units", json={"id": "bob/app"}, headers=bearer)
    assert refused.status_code == 403 and refused.json()["action"] == "unit.write"
    assert httpx.get(f"{taco.url}/v1/units", headers=bearer).json()["units"] == []


def test_forged_and_foreign_id_tokens_are_refused(provider: Provider, taco: Server) -> None:
    """A tampered ID token, or one whose nonce belongs to another login, gets 401."""
    id_token, pkce = login(provider, "carol")
    head, payload, signature = id_token.split(".")
    tampered = f"{head}.{payload[:-4]}AAAA.{signature}"
    assert (
        httpx.post(f"{taco.url}/v1/auth/exchange", json={"id_token": tampered}).status_code == 401
    )
    other = httpx.post(
        f"{taco.url}/v1/auth/exchange", json={"id_token": id_token, "nonce": "not-this-login"}
    )
    assert other.status_code == 401
    assert httpx.post(
        f"{taco.url}/v1/auth/exchange", json={"id_token": id_token, "nonce": pkce.nonce}
    ).is_success
