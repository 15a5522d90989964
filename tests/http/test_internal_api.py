"""The internal API (``/internal/api``) over HTTP: webhook authentication,
organizations and users synced by a UI, and units scoped to an organization."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from taco_adapters.clock import SystemClock
from taco_adapters.memory import (
    MemoryAuthStore,
    MemoryDirectoryStore,
    MemoryRbacStore,
    MemoryStateStore,
)
from taco_http.app import create_app
from taco_http.settings import Settings
from taco_http.wiring import Adapters

SECRET = "statesman-secret"
STATE = b'{"version": 4, "serial": 1, "lineage": "l-1", "outputs": {}, "resources": []}'


def headers(org: str | None = "org_1", user: str = "user_1", **extra: str) -> dict[str, str]:
    found = {"Authorization": f"Bearer {SECRET}", "X-User-ID": user, "X-Email": "u1@example.test"}
    if org is not None:
        found["X-Org-ID"] = org
    return {**found, **extra}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        storage="memory", internal_endpoints_secret=SECRET, admin_token_path=tmp_path / "t"
    )
    adapters = Adapters(
        states=MemoryStateStore(),
        auth=MemoryAuthStore(),
        rbac=MemoryRbacStore(),
        clock=SystemClock(),
        directory=MemoryDirectoryStore(),
    )
    with TestClient(create_app(settings, adapters=adapters)) as c:
        yield c


@pytest.fixture
def org(client: TestClient) -> dict[str, Any]:
    reply = client.post(
        "/internal/api/orgs/sync",
        headers=headers(org=None),
        json={"name": "Acme", "display_name": "Acme Inc", "external_org_id": "org_1"},
    )
    assert reply.status_code == 201, reply.text
    found: dict[str, Any] = reply.json()["organization"]
    return found


def test_the_internal_api_is_off_without_its_secret(tmp_path: Path) -> None:
    """Not configured: the routes do not exist (and need a normal token first)."""
    settings = Settings(storage="memory", admin_token_path=tmp_path / "t")
    with TestClient(create_app(settings)) as client:
        assert client.get("/internal/api/health", headers=headers()).status_code == 401
        admin = (tmp_path / "t").read_text().strip()
        found = client.get("/internal/api/health", headers={"Authorization": f"Bearer {admin}"})
        assert found.status_code == 404


@pytest.mark.parametrize(
    ("sent", "status"),
    [
        ({}, 401),
        ({"Authorization": "Basic c3RhdGVzbWFuLXNlY3JldA=="}, 401),
        ({"Authorization": "Bearer "}, 401),
        ({"Authorization": "Bearer statesman-secreT"}, 403),
        ({"Authorization": f"Bearer {SECRET}x"}, 403),
        ({"Authorization": f"Bearer {SECRET}"}, 400),
        ({"Authorization": f"Bearer {SECRET}", "X-User-ID": "u", "X-Org-ID": "-bad"}, 400),
        ({"Authorization": f"Bearer {SECRET}", "X-User-ID": "u", "X-Org-ID": "a/b"}, 400),
        ({"Authorization": f"Bearer {SECRET}", "X-User-ID": "u\tv"}, 400),
    ],
)
def test_webhook_authentication(client: TestClient, sent: dict[str, str], status: int) -> None:
    """No or malformed Bearer: 401; wrong secret: 403; no X-User-ID or a bad
    X-Org-ID: 400."""
    assert client.get("/internal/api/health", headers=sent).status_code == status


def test_health_and_me(client: TestClient, org: dict[str, Any]) -> None:
    """/health says webhook auth; /me is the UI's user, in the org's group."""
    assert client.get("/internal/api/health", headers=headers()).json() == {
        "status": "ok",
        "type": "internal",
        "auth_type": "webhook",
    }
    me = client.get("/internal/api/me", headers=headers()).json()
    assert (me["user_id"], me["email"], me["org_id"]) == ("user_1", "u1@example.test", "org_1")
    assert me["principal"]["kind"] == "user" and me["principal"]["groups"] == ["org:acme"]
    assert client.get("/internal/api/me", headers=headers(org=None)).json()["org_id"] == "default"


def test_organizations_sync_idempotently(client: TestClient, org: dict[str, Any]) -> None:
    """The first sync created (201); again it is existing (200); creating a
    taken name is 409; lookups by external ID, ID and name; unknown is 404
    with the hint to sync."""
    assert (org["name"], org["display_name"], org["external_org_id"]) == (
        "acme",
        "Acme Inc",
        "org_1",
    )
    assert org["created_by"] == "user_1"
    again = client.post(
        "/internal/api/orgs/sync",
        headers=headers(org=None),
        json={"name": "acme", "display_name": "Acme Inc", "external_org_id": "org_1"},
    )
    assert again.status_code == 200 and again.json() == {"status": "existing", "organization": org}
    taken = client.post("/internal/api/orgs", headers=headers(), json={"name": "acme"})
    assert taken.status_code == 409
    made = client.post("/internal/api/orgs", headers=headers(), json={"name": "globex"})
    assert made.status_code == 201 and made.json()["display_name"] == "globex"
    listed = client.get("/internal/api/orgs", headers=headers()).json()
    assert [o["name"] for o in listed["organizations"]] == ["acme", "globex"] and listed[
        "count"
    ] == 2
    for key in ("org_1", org["id"], "acme"):
        assert client.get(f"/internal/api/orgs/{key}", headers=headers()).json() == org
    missing = client.get("/internal/api/orgs/org_404", headers=headers())
    assert missing.status_code == 404 and "sync it first" in missing.json()["error"]
    for body in ({"name": "x"}, {"name": "ok-name", "display_name": "D"}, {}, {"name": 5}):
        assert (
            client.post("/internal/api/orgs/sync", headers=headers(), json=body).status_code == 400
        )


def test_users_of_an_organization(client: TestClient, org: dict[str, Any]) -> None:
    """POST /users adds (201) or confirms (200) a member; lists and lookups
    are per organization; an unknown organization is 404 with the hint."""
    body = {"subject": "user_1", "email": "u1@example.test"}
    assert client.post("/internal/api/users", headers=headers(), json=body).status_code == 201
    assert client.post("/internal/api/users", headers=headers(), json=body).status_code == 200
    users = client.get("/internal/api/users", headers=headers()).json()
    assert [u["subject"] for u in users["users"]] == ["user_1"] and users["count"] == 1
    one = client.get("/internal/api/users/user_1", headers=headers()).json()
    assert one["organizations"] == [org["id"]]
    assert client.get("/internal/api/users/user_2", headers=headers()).status_code == 404
    unknown = client.get("/internal/api/users", headers=headers(org="org_unknown"))
    assert unknown.status_code == 404 and "sync it first" in unknown.json()["error"]
    assert (
        client.post("/internal/api/users", headers=headers(), json={"email": "x"}).status_code
        == 400
    )


def test_units_are_scoped_to_the_organization(client: TestClient, org: dict[str, Any]) -> None:
    """Units under '<name>/' only: others are refused on create, left out of
    lists and not found by ID; the rest of /v1/units works inside."""
    h = headers()
    assert (
        client.post("/internal/api/units", headers=h, json={"id": "acme/prod"}).status_code == 201
    )
    outside = client.post("/internal/api/units", headers=h, json={"id": "globex/prod"})
    assert outside.status_code == 400
    other = client.post(
        "/internal/api/orgs/sync",
        headers=h,
        json={"name": "globex", "display_name": "G", "external_org_id": "org_2"},
    )
    assert other.status_code == 201
    g = headers(org="org_2")
    assert (
        client.post("/internal/api/units", headers=g, json={"id": "globex/prod"}).status_code == 201
    )
    assert [u["id"] for u in client.get("/internal/api/units", headers=h).json()["units"]] == [
        "acme/prod"
    ]
    assert client.get("/internal/api/units?prefix=globex/", headers=h).json()["units"] == []
    assert client.get("/internal/api/units?prefix=acme/p", headers=h).json()["count"] == 1
    assert client.get("/internal/api/units/globex/prod", headers=h).status_code == 404
    assert client.get("/internal/api/units/globex__prod", headers=h).status_code == 404
    put = client.put("/internal/api/units/acme/prod/upload", headers=h, content=STATE)
    assert put.status_code == 200, put.text
    assert client.get("/internal/api/units/acme/prod/download", headers=h).content == STATE
    history = client.get("/internal/api/units/acme/prod/versions", headers=h).json()
    assert history["versions"][0]["author"] == "user_1"
    assert client.delete("/internal/api/units/acme/prod", headers=h).status_code == 204


@pytest.mark.parametrize(
    "body", [b"", b"null", b"[]", b"{", b'{"name": null}', b"[" * 50_000, b"\xff\xfe"]
)
def test_hostile_bodies_never_get_a_5xx(
    client: TestClient, org: dict[str, Any], body: bytes
) -> None:
    for path in (
        "/internal/api/orgs",
        "/internal/api/orgs/sync",
        "/internal/api/users",
        "/internal/api/units",
    ):
        reply = client.post(path, headers=headers(), content=body)
        assert 400 <= reply.status_code < 500, (path, reply.text)
