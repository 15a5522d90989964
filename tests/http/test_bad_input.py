"""Bad input is a clear 4xx JSON error naming what is wrong, never a 500:
the inputs that once reached one, each pinned (the fuzz tests in
``test_no_server_errors`` look for the ones not listed here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from taco_http.app import create_app
from taco_http.settings import Settings

STATE = json.dumps({"version": 4, "serial": 1, "lineage": "L", "outputs": {}}).encode()
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000
DEEP_ARRAY = b'{"a":' + b"[" * 1000 + b"]" * 1000 + b"}"
LONG_INT = b'{"serial": ' + b"9" * 5000 + b"}"

CASES = [
    # (method, path, body, status, words the message must hold)
    ("POST", "/v1/backend/u", DEEP_OBJECT, 400, "256 levels"),
    ("POST", "/v1/backend/u", DEEP_ARRAY, 400, "256 levels"),
    ("POST", "/v1/backend/u", LONG_INT, 400, "4300 digits"),
    ("POST", "/v1/backend/u", b'{"serial": 9223372036854775808}', 400, "'serial'"),
    ("POST", "/v1/backend/u", b'{"serial": 1, "lineage": "\\ud800"}', 400, "'lineage'"),
    ("POST", "/v1/units/u/upload", DEEP_OBJECT, 400, "256 levels"),
    ("LOCK", "/v1/backend/u", b'{"ID": 5}', 400, "'id'"),
    ("LOCK", "/v1/backend/u", b'{"Who": "\\ud800"}', 400, "'who'"),
    ("LOCK", "/v1/backend/u", DEEP_OBJECT, 400, "too deeply"),
    ("LOCK", "/v1/backend/u", LONG_INT, 400, "4300 digits"),
    ("GET", "/v1/units/u/versions?limit=%C2%B2", None, 400, "'limit'"),
    ("GET", "/v1/units/u/versions?offset=99999999999999999999", None, 400, "'offset'"),
    ("GET", "/v1/units/u/versions/99999999999999999999", None, 400, "version number"),
    ("GET", "/v1/units/u/diff?from=%D9%A3", None, 400, "'from'"),
    ("GET", "/v1/units/u/diff?to=99999999999999999999", None, 400, "'to'"),
    ("POST", "/v1/units/u/restore", b'{"version": 99999999999999999999}', 400, "version"),
    ("POST", "/v1/units/u/restore", b'{"timestamp": "2026-01-01T00:00:00"}', 400, "time zone"),
    ("POST", "/v1/units/u/restore", b'{"timestamp": "yesterday"}', 400, "RFC 3339"),
    ("GET", "/v1/units?prefix=%00", None, 400, "prefix"),
    ("GET", "/v1/units?prefix=%ED%A0%80", None, 400, "prefix"),
    ("POST", "/v1/units", b'{"id": "x", "labels": {"a": "\\ud800"}}', 400, "surrogate"),
    ("POST", "/v1/units", DEEP_OBJECT, 400, "too deeply"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "words"), CASES)
def test_bad_input_is_a_clear_4xx(
    client: TestClient, method: str, path: str, body: bytes | None, status: int, words: str
) -> None:
    """Each input once answered 500; now a 4xx JSON error whose message names the problem."""
    client.post("/v1/backend/u", content=STATE)
    r = client.request(method, path, content=body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]


@pytest.mark.parametrize("body", [b"", b"{}", b'{"ID": null}', b'{"Who": "ci"}'])
def test_backend_lock_without_an_id_gets_a_fresh_one(client: TestClient, body: bytes) -> None:
    """LOCK with no ID (empty body, {}, null ID) locks under a fresh UUID, as documented."""
    r = client.request("LOCK", "/v1/backend/u", content=body)
    assert r.status_code == 200, r.text
    assert len(r.json()["ID"]) == 36
    assert client.get("/v1/units/u").json()["lock"]["id"] == r.json()["ID"]


@pytest.mark.parametrize("body", [b"", b"{}", b'{"id": null}'])
def test_management_lock_body_is_optional(client: TestClient, body: bytes) -> None:
    """POST /v1/units/{id}/lock without a body or an ID locks under a fresh UUID."""
    client.post("/v1/units", json={"id": "m"})
    r = client.post("/v1/units/m/lock", content=body)
    assert r.status_code == 200, r.text
    assert len(r.json()["id"]) == 36


@pytest.mark.parametrize("body", [b"{}", b'{"id": null}', b'{"id": ""}'])
def test_management_unlock_without_an_id_is_400(client: TestClient, body: bytes) -> None:
    """Unlock naming no lock, without ?force=true, is refused and the lock stays."""
    client.post("/v1/units", json={"id": "m"})
    client.post("/v1/units/m/lock")
    r = client.post("/v1/units/m/unlock", content=body)
    assert r.status_code == 400
    assert "lock ID required" in r.json()["error"]
    assert client.get("/v1/units/m").json()["locked"] is True


@pytest.mark.parametrize(
    ("value", "words"),
    [(10**20, "36500d"), ("99999999999d", "36500d"), (-(10**20), "positive"), (0, "positive")],
)
def test_token_lifetimes_that_fit_no_date_are_400(
    tmp_path: Path, value: object, words: str
) -> None:
    """expires_in as a huge number or duration is refused naming the longest allowed."""
    settings = Settings(storage="memory", admin_token_path=tmp_path / "admin-token")
    with TestClient(create_app(settings)) as authed:
        admin = (tmp_path / "admin-token").read_text().strip()
        r = authed.post(
            "/v1/auth/tokens",
            json={"name": "ci", "expires_in": value},
            headers={"Authorization": f"Bearer {admin}"},
        )
    assert r.status_code == 400, r.text
    assert words in r.json()["error"]
