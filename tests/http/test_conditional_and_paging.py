"""Conditional state GETs (``ETag``, ``If-None-Match``) and paged unit listings."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from starlette.testclient import TestClient


def _state(serial: int) -> bytes:
    return json.dumps(
        {"version": 4, "serial": serial, "lineage": "L", "outputs": {}, "resources": []}
    ).encode()


def _md5(data: bytes) -> dict[str, str]:
    return {"Content-MD5": base64.b64encode(hashlib.md5(data).digest()).decode()}


@pytest.fixture(params=["sqlite", "memory"])
def any_client(request: pytest.FixtureRequest) -> TestClient:
    name = "client" if request.param == "sqlite" else "memory_client"
    client: TestClient = request.getfixturevalue(name)
    return client


def test_state_gets_carry_a_strong_etag_and_honour_if_none_match(any_client: TestClient) -> None:
    """The backend GET and the download send the SHA-256 of the bytes as a
    strong ETag; asking again with it answers 304 with no body, until the
    state changes."""
    first = _state(1)
    assert (
        any_client.post("/v1/backend/app/etag", content=first, headers=_md5(first)).status_code
        == 200
    )
    etag = f'"{hashlib.sha256(first).hexdigest()}"'
    for path in ("/v1/backend/app/etag", "/v1/units/app__etag/download"):
        got = any_client.get(path)
        assert got.status_code == 200 and got.content == first
        assert got.headers["etag"] == etag
        again = any_client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
        for other in ('"0000"', f"W/{etag}, *"):
            status = any_client.get(path, headers={"If-None-Match": other}).status_code
            assert status == (304 if "*" in other else 200)
    second = _state(2)
    any_client.post("/v1/backend/app/etag", content=second, headers=_md5(second))
    changed = any_client.get("/v1/backend/app/etag", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.content == second
    assert changed.headers["etag"] == f'"{hashlib.sha256(second).hexdigest()}"'


def test_listing_pages_follow_next_links_to_the_whole_listing(any_client: TestClient) -> None:
    """``?limit=`` pages (with ``next`` and a Link header) add up to the
    unpaginated listing, in order, prefix included."""
    for k in range(23):
        any_client.post("/v1/units", json={"id": f"team/u{k:02d}"})
    any_client.post("/v1/units", json={"id": "zeta/last"})
    whole = any_client.get("/v1/units").json()
    assert whole["count"] == 24 and "next" not in whole
    seen: list[str] = []
    url = "/v1/units?limit=10&prefix=team/"
    pages = 0
    while url:
        page = any_client.get(url)
        body = page.json()
        assert body["count"] == len(body["units"]) <= 10
        seen += [u["id"] for u in body["units"]]
        url = body.get("next", "")
        if url:
            assert page.headers["link"] == f'<{url}>; rel="next"'
        pages += 1
    assert pages == 3
    assert seen == [u["id"] for u in whole["units"] if u["id"].startswith("team/")]
    assert any_client.get("/v1/units?limit=5&after=team/u22").json()["units"][0]["id"] == (
        "zeta/last"
    )


def test_bad_paging_parameters_are_refused(any_client: TestClient) -> None:
    """A zero or non-numeric limit, or paging deleted units, is a 400."""
    for query in ("limit=0", "limit=x", "limit=5&deleted=true"):
        assert any_client.get(f"/v1/units?{query}").status_code == 400, query
