"""Every route answers only the methods it serves: HEAD is a read wherever
GET is, and any other method is a 405 JSON error with an ``Allow`` header,
never a fall-through to another handler (HEAD once soft-deleted a unit)."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

B = "/v1/backend/myapp/prod"
STATE = json.dumps({"version": 4, "serial": 1, "lineage": "L", "outputs": {}}).encode()


def test_head_on_the_backend_is_a_read(client: TestClient) -> None:
    """HEAD answers like GET without a body and leaves the unit and its state alone."""
    assert client.post(B, content=STATE).status_code == 200
    head = client.head(B)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(STATE))
    assert client.get(B).content == STATE
    assert client.get("/v1/units/myapp/prod").status_code == 200
    assert client.head("/v1/backend/never/written").status_code == 404


@pytest.mark.parametrize("method", ["PATCH", "OPTIONS", "TRACE", "PROPFIND", "FOO"])
def test_unknown_methods_on_the_backend_are_405(client: TestClient, method: str) -> None:
    """A method the backend does not serve is 405 naming what it serves; the state stays."""
    assert client.post(B, content=STATE).status_code == 200
    r = client.request(method, B)
    assert r.status_code == 405
    assert "error" in r.json()
    assert set(r.headers["allow"].split(", ")) == {
        "DELETE", "GET", "HEAD", "LOCK", "POST", "PUT", "UNLOCK"
    }  # fmt: skip
    assert client.get(B).content == STATE


PATHS_AND_METHODS = [
    ("/v1/units", {"GET", "HEAD", "POST"}),
    ("/v1/units/myapp/prod", {"DELETE", "GET", "HEAD", "PATCH"}),
    ("/v1/units/myapp/prod/download", {"GET", "HEAD"}),
    ("/v1/units/myapp/prod/upload", {"POST", "PUT"}),
    ("/v1/units/myapp/prod/lock", {"POST"}),
    ("/v1/units/myapp/prod/unlock", {"DELETE", "POST"}),
    ("/v1/units/myapp/prod/versions", {"GET", "HEAD"}),
    ("/v1/units/myapp/prod/versions/1", {"GET", "HEAD"}),
    ("/v1/units/myapp/prod/restore", {"POST"}),
    ("/v1/units/myapp/prod/undelete", {"POST"}),
    ("/v1/units/myapp/prod/diff", {"GET", "HEAD"}),
    ("/v1/auth/tokens", {"GET", "HEAD", "POST"}),
    ("/v1/auth/tokens/abc", {"DELETE"}),
    ("/v1/auth/me", {"GET", "HEAD"}),
    ("/healthz", {"GET", "HEAD"}),
]
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "LOCK", "UNLOCK"]


@pytest.mark.parametrize(("path", "served"), PATHS_AND_METHODS)
def test_every_route_refuses_what_it_does_not_serve(
    client: TestClient, path: str, served: set[str]
) -> None:
    """Each method a route does not serve is a 405 JSON error whose Allow names
    exactly what it does serve; nothing else about the unit changes."""
    assert client.post(B, content=STATE).status_code == 200
    for method in ALL_METHODS:
        if method in served:
            continue
        r = client.request(method, path)
        assert r.status_code == 405, (method, path, r.status_code)
        if method != "HEAD":  # a HEAD answer has no body
            assert "error" in r.json()
        assert set(r.headers["allow"].split(", ")) == served, (method, path)
    assert client.get(B).content == STATE
    assert client.get("/v1/units/myapp/prod").json()["locked"] is False


@pytest.mark.parametrize(
    "path",
    ["/v1/units/myapp/prod", "/v1/units/myapp/prod/download", "/v1/units/myapp/prod/versions"],
)
def test_head_on_management_reads_is_a_read(client: TestClient, path: str) -> None:
    """HEAD on a management read answers its GET's status without a body."""
    assert client.post(B, content=STATE).status_code == 200
    r = client.head(path)
    assert r.status_code == 200
    assert r.content == b""
    assert client.get(B).content == STATE
