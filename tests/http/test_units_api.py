"""The management API under /v1/units."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from starlette.testclient import TestClient


def tfstate(serial: int, lineage: str = "L1", greeting: str = "hi") -> bytes:
    return json.dumps(
        {"version": 4, "serial": serial, "lineage": lineage,
         "outputs": {"greeting": {"value": greeting, "type": "string"}}, "resources": []},
        indent=2,
    ).encode()  # fmt: skip


def test_create_list_info_delete(client: TestClient) -> None:
    """Create gives 201 {id, created}; list and info show it; delete gives 204."""
    r = client.post("/v1/units", json={"id": "myapp/prod", "labels": {"team": "core"}})
    assert r.status_code == 201
    assert r.json()["id"] == "myapp/prod"
    assert set(r.json()) == {"id", "created"}
    listing = client.get("/v1/units").json()
    assert listing["count"] == 1
    unit = listing["units"][0]
    assert unit["labels"] == {"team": "core"}
    assert unit["locked"] is False
    assert unit["lock"] is None
    assert client.get("/v1/units/myapp/prod").json()["id"] == "myapp/prod"
    assert client.delete("/v1/units/myapp/prod").status_code == 204
    assert client.get("/v1/units/myapp/prod").status_code == 404


def test_duplicate_create_is_409(client: TestClient) -> None:
    """Creating an existing unit is a 409 naming it."""
    client.post("/v1/units", json={"id": "a"})
    r = client.post("/v1/units", json={"id": "a"})
    assert r.status_code == 409
    assert "'a' already exists" in r.json()["error"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"id": "bad id"}, "letters, digits"),
        ({"id": "a//b"}, "empty segment"),
        ({"id": "__opentaco_system"}, "reserved"),
        ({}, "id"),
        ({"id": 5}, "id"),
        ({"id": "a", "labels": {"k": 1}}, "labels"),
    ],
)
def test_create_refuses_bad_requests_with_reason(
    client: TestClient, body: dict[str, object], needle: str
) -> None:
    """Bad create requests are 400 with a message naming the problem."""
    r = client.post("/v1/units", json=body)
    assert r.status_code == 400
    assert needle in r.json()["error"]


def test_create_refuses_non_json(client: TestClient) -> None:
    """A body that is not JSON is a 400."""
    r = client.post("/v1/units", content=b"nope")
    assert r.status_code == 400


def test_path_id_encodings(client: TestClient) -> None:
    """An ID in the path may be raw, %2F-encoded or __-encoded; the reserved prefix survives."""
    client.post("/v1/units", json={"id": "myapp/prod"})
    client.post("/v1/backend/__opentaco_system", content=tfstate(0))
    for path in ("myapp/prod", "myapp%2Fprod", "myapp__prod"):
        assert client.get(f"/v1/units/{path}").json()["id"] == "myapp/prod"
    assert client.get("/v1/units/__opentaco_system").json()["id"] == "__opentaco_system"


def test_unit_named_like_an_action_is_reachable_encoded(client: TestClient) -> None:
    """A unit whose last segment is an action word is addressed with %2F."""
    client.post("/v1/units", json={"id": "x/lock"})
    assert client.get("/v1/units/x%2Flock").json()["id"] == "x/lock"


def test_list_prefix(client: TestClient) -> None:
    """?prefix= filters by string prefix; results are sorted."""
    for uid in ("b", "a/2", "a/1"):
        client.post("/v1/units", json={"id": uid})
    r = client.get("/v1/units?prefix=a/").json()
    assert [u["id"] for u in r["units"]] == ["a/1", "a/2"]
    assert r["count"] == 2


def test_upload_download_and_if_locked_by(client: TestClient) -> None:
    """Upload honours the lock via if_locked_by; download returns the bytes."""
    client.post("/v1/units", json={"id": "u"})
    assert client.get("/v1/units/u/download").content == b""
    lock = client.post("/v1/units/u/lock", json={"id": "L", "who": "me", "version": "1"})
    assert lock.status_code == 200
    assert lock.json()["id"] == "L"
    assert set(lock.json()) >= {"id", "who", "version", "created"}
    r = client.post("/v1/units/u/upload", content=tfstate(1))
    assert r.status_code == 423
    assert r.json()["lock"]["id"] == "L"
    r = client.post("/v1/units/u/upload?if_locked_by=L", content=tfstate(1))
    assert r.status_code == 200
    assert r.json()["message"] == "Unit uploaded successfully"
    assert client.get("/v1/units/u/download").content == tfstate(1)
    info = client.get("/v1/units/u").json()
    assert info["locked"] is True
    assert info["lock"]["who"] == "me"


def test_upload_to_missing_unit_is_404(client: TestClient) -> None:
    """The management upload does not create units."""
    r = client.post("/v1/units/ghost/upload", content=tfstate(1))
    assert r.status_code == 404
    assert "ghost" in r.json()["error"]


def test_lock_conflict_and_unlock(client: TestClient) -> None:
    """A second lock is 423 with the holder; unlock needs the ID or ?force=true."""
    client.post("/v1/units", json={"id": "u"})
    client.post("/v1/units/u/lock", json={"id": "L"})
    r = client.post("/v1/units/u/lock", json={"id": "M"})
    assert r.status_code == 423
    assert r.json()["lock"]["id"] == "L"
    assert client.request("DELETE", "/v1/units/u/unlock").status_code == 400
    r = client.request("DELETE", "/v1/units/u/unlock", json={"id": "M"})
    assert r.status_code == 423
    assert client.request("DELETE", "/v1/units/u/unlock", json={"id": "L"}).status_code == 200
    client.post("/v1/units/u/lock", json={"id": "N"})
    assert client.request("DELETE", "/v1/units/u/unlock?force=true").status_code == 200
    assert client.get("/v1/units/u").json()["locked"] is False


def test_versions_restore_and_force(client: TestClient) -> None:
    """History lists newest first; restore by number or timestamp bumps the serial."""
    client.post("/v1/units", json={"id": "u"})
    for n, g in ((1, "one"), (2, "two"), (3, "three")):
        assert client.post("/v1/units/u/upload", content=tfstate(n, greeting=g)).status_code == 200
    listing = client.get("/v1/units/u/versions").json()
    assert listing["unit_id"] == "u"
    assert [v["number"] for v in listing["versions"]] == [3, 2, 1]
    assert {"timestamp", "hash", "size", "serial", "lineage", "sha256"} <= set(
        listing["versions"][0]
    )
    page = client.get("/v1/units/u/versions?limit=1&offset=1").json()
    assert [v["number"] for v in page["versions"]] == [2]
    assert client.get("/v1/units/u/versions/1").content == tfstate(1, greeting="one")
    r = client.post("/v1/units/u/restore", json={"version": 1})
    assert r.status_code == 200
    assert r.json()["version"]["serial"] == 4
    doc = json.loads(client.get("/v1/units/u/download").content)
    assert doc["outputs"]["greeting"]["value"] == "one"
    ts = listing["versions"][1]["timestamp"]
    r = client.post("/v1/units/u/restore", json={"timestamp": ts})
    assert r.status_code == 200
    assert r.json()["restored_version"] == 2
    old = client.post("/v1/units/u/upload", content=tfstate(1, greeting="old"))
    assert old.status_code == 409
    forced = client.post("/v1/units/u/upload?force=true", content=tfstate(1, greeting="old"))
    assert forced.status_code == 200
    assert "forced" in forced.json()["message"]


def test_restore_by_timestamp_picks_the_version_current_then(client: TestClient) -> None:
    """A time between two writes restores the version current at that time (the
    earlier one), in any offset; a time before the first write is 404."""
    client.post("/v1/units", json={"id": "u"})
    for n in (1, 2, 3):
        assert client.post("/v1/units/u/upload", content=tfstate(n)).status_code == 200
    created = {
        v["number"]: datetime.fromisoformat(v["created"].replace("Z", "+00:00"))
        for v in client.get("/v1/units/u/versions").json()["versions"]
    }
    between = created[2] + (created[3] - created[2]) / 2
    in_paris = between.astimezone(timezone(timedelta(hours=2))).isoformat()
    r = client.post("/v1/units/u/restore", json={"timestamp": in_paris})
    assert r.status_code == 200, r.text
    assert r.json()["restored_version"] == 2
    before = (created[1] - timedelta(seconds=1)).isoformat()
    assert client.post("/v1/units/u/restore", json={"timestamp": before}).status_code == 404


def test_restore_errors(client: TestClient) -> None:
    """Restore of a missing version is 404; a body without a version is 400."""
    client.post("/v1/units", json={"id": "u"})
    assert client.post("/v1/units/u/restore", json={"version": 9}).status_code == 404
    assert client.post("/v1/units/u/restore", json={}).status_code == 400
    assert client.get("/v1/units/u/versions/9").status_code == 404


def test_undelete(client: TestClient) -> None:
    """A deleted unit is listed with ?deleted=true and comes back with its state."""
    client.post("/v1/units", json={"id": "u"})
    client.post("/v1/units/u/upload", content=tfstate(1))
    client.delete("/v1/units/u")
    assert client.get("/v1/units").json()["count"] == 0
    deleted = client.get("/v1/units?deleted=true").json()["units"]
    assert [u["id"] for u in deleted] == ["u"]
    assert "deleted_at" in deleted[0]
    assert client.post("/v1/units/u/undelete").status_code == 200
    assert client.get("/v1/units/u/download").content == tfstate(1)


def test_patch_sets_and_removes_labels_and_leaves_the_others(client: TestClient) -> None:
    """PATCH {"labels": {k: v | null}} sets or removes exactly those keys and
    answers the unit; a locked unit's labels change too (they are not state)."""
    client.post("/v1/units", json={"id": "my/app", "labels": {"team": "a", "tier": "1", "x": ""}})
    client.post("/v1/units/my/app/lock", json={"id": "L"})
    r = client.patch("/v1/units/my%2Fapp", json={"labels": {"team": "b", "x": None, "new": "n"}})
    assert r.status_code == 200, r.text
    assert r.json()["labels"] == {"team": "b", "tier": "1", "new": "n"}
    assert r.json()["locked"] is True
    assert client.get("/v1/units/my/app").json()["labels"] == r.json()["labels"]
    assert (
        client.patch("/v1/units/my/app", json={"labels": {}}).json()["labels"]
        == (r.json()["labels"])
    )


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "labels"),
        ({"labels": {"k": 1}}, "labels"),
        ({"labels": ["k"]}, "labels"),
        ({"labels": None}, "labels"),
    ],
)
def test_patch_refuses_bad_bodies(client: TestClient, body: object, needle: str) -> None:
    """A body that is not {"labels": {string: string | null}} is a 400 naming labels."""
    client.post("/v1/units", json={"id": "u", "labels": {"keep": "me"}})
    r = client.patch("/v1/units/u", json=body)
    assert r.status_code == 400, r.text
    assert needle in r.json()["error"]
    assert client.get("/v1/units/u").json()["labels"] == {"keep": "me"}


def test_patch_of_a_missing_unit_is_404(client: TestClient) -> None:
    """No unit, nothing to label: 404 naming it."""
    r = client.patch("/v1/units/nope", json={"labels": {"k": "v"}})
    assert r.status_code == 404
    assert r.json()["kind"] == "unit_not_found"


def test_delete_locked_unit_is_refused(client: TestClient) -> None:
    """Deleting a locked unit is 423; nothing is lost."""
    client.post("/v1/units", json={"id": "u"})
    client.post("/v1/units/u/lock", json={"id": "L"})
    assert client.delete("/v1/units/u").status_code == 423


def test_unknown_route_and_method_are_json(client: TestClient) -> None:
    """Unknown routes and methods answer JSON errors."""
    r = client.get("/nope")
    assert r.status_code == 404
    assert "error" in r.json()
    client.post("/v1/units", json={"id": "u"})
    r = client.put("/v1/units/u/lock")
    assert r.status_code == 405
    assert "error" in r.json()


def test_health_ready_info(memory_client: TestClient) -> None:
    """healthz, readyz and info answer without a store round trip failing."""
    assert memory_client.get("/healthz").json()["status"] == "ok"
    assert memory_client.get("/readyz").json()["status"] == "ready"
    assert memory_client.get("/v1/info").json() == {"storage": {"type": "memory"}}


def test_diff_endpoint_defaults_to_last_change(client: TestClient) -> None:
    """GET diff with no range compares the current version with the one before."""
    client.post("/v1/units", json={"id": "u"})
    client.post("/v1/units/u/upload", content=tfstate(1, greeting="one"))
    client.post("/v1/units/u/upload", content=tfstate(2, greeting="two"))
    d = client.get("/v1/units/u/diff").json()
    assert (d["from_version"], d["to_version"]) == (1, 2)
    assert d["outputs"]["changed"] == [
        {"name": "greeting", "before": "one", "after": "two", "sensitive": False}
    ]
    d = client.get("/v1/units/u/diff?from=2&to=1").json()
    assert d["outputs"]["changed"][0]["after"] == "one"
    assert client.get("/v1/units/u/diff?from=9").status_code == 404
    assert client.get("/v1/units/u/diff?from=x").status_code == 400


def test_deleted_units_are_purged_after_grace_on_start(tmp_path: Path) -> None:
    """The service purges units whose delete grace is over (here: at the next start)."""
    from taco_http.app import create_app
    from taco_http.settings import Settings

    settings = Settings(
        sqlite_db_path=tmp_path / "t.db", delete_grace_seconds=0.0, auth_disable=True
    )
    with TestClient(create_app(settings)) as c:
        c.post("/v1/units", json={"id": "u"})
        c.delete("/v1/units/u")
        assert c.get("/v1/units?deleted=true").json()["count"] == 1
    with TestClient(create_app(settings)) as c:
        assert c.get("/v1/units?deleted=true").json()["count"] == 0
        assert c.post("/v1/units", json={"id": "u"}).status_code == 201


def test_error_bodies_name_their_kind(client: TestClient) -> None:
    """Every core error body carries a stable kind beside the message."""
    assert client.get("/v1/units/ghost").json()["kind"] == "unit_not_found"
    client.post("/v1/units", json={"id": "k"})
    assert client.post("/v1/units", json={"id": "k"}).json()["kind"] == "unit_already_exists"
    assert client.get("/v1/units/k/versions/3").json()["kind"] == "version_not_found"
    assert client.post("/v1/units", json={"id": "a b"}).json()["kind"] == "invalid_unit_id"
    assert client.post("/v1/units/k/upload", content=b"[]").json()["kind"] == "invalid_state"
    client.post("/v1/units/k/lock", json={"id": "L"})
    assert client.post("/v1/units/k/lock", json={"id": "M"}).json()["kind"] == "lock_conflict"
