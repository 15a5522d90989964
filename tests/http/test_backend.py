"""Terraform's HTTP backend protocol, as real Terraform speaks it."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

B = "/v1/backend/myapp/prod"


def tfstate(serial: int, lineage: str = "L1") -> bytes:
    return json.dumps({"version": 4, "serial": serial, "lineage": lineage, "outputs": {}}).encode()


def lock_body(lock_id: str, who: str = "root@vm") -> dict[str, str]:
    return {
        "ID": lock_id,
        "Operation": "OperationTypeApply",
        "Info": "",
        "Who": who,
        "Version": "1.0.3",
        "Created": "2026-11-23T06:48:50.857284022Z",
        "Path": "",
    }


def test_get_missing_state_is_404_with_empty_body(client: TestClient) -> None:
    """Terraform reads a 404 with an empty body as 'no state yet'."""
    r = client.get(B)
    assert r.status_code == 404
    assert r.content == b""


def test_post_creates_unit_and_get_returns_exact_bytes(client: TestClient) -> None:
    """A write to a new unit creates it; GET returns the bytes unchanged with Content-MD5."""
    data = tfstate(0)
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    r = client.post(B, content=data, headers={"Content-MD5": md5})
    assert r.status_code == 200
    got = client.get(B)
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-md5"] == md5
    assert client.get("/v1/units/myapp/prod").json()["size"] == len(data)


def test_lock_conflict_is_423_with_holder_lockinfo_round_tripped(client: TestClient) -> None:
    """The loser gets 423 and the holder's LockInfo with every Terraform field intact."""
    holder = lock_body("11111111-2222-3333-4444-555555555555", who="bob@ci")
    assert client.request("LOCK", B, json=holder).status_code == 200
    r = client.request("LOCK", B, json=lock_body("other"))
    assert r.status_code == 423
    assert r.json() == holder


def test_write_while_locked_needs_the_id(client: TestClient) -> None:
    """Without the holder's ID a write is 423 and nothing is stored; ?ID= and the header work."""
    client.request("LOCK", B, json=lock_body("L1"))
    r = client.post(B, content=tfstate(0))
    assert r.status_code == 423
    assert r.json()["ID"] == "L1"
    assert client.post(f"{B}?ID=wrong", content=tfstate(0)).status_code == 423
    assert client.get(B).status_code == 404
    assert client.post(f"{B}?ID=L1", content=tfstate(0)).status_code == 200
    r = client.post(B, content=tfstate(1), headers={"X-Terraform-Lock-ID": "L1"})
    assert r.status_code == 200


def test_unlock_rules(client: TestClient) -> None:
    """UNLOCK with the wrong ID is 423; the right ID is 200; unlocked is 200."""
    client.request("LOCK", B, json=lock_body("L1"))
    r = client.request("UNLOCK", B, json=lock_body("L2"))
    assert r.status_code == 423
    assert r.json()["ID"] == "L1"
    assert client.request("UNLOCK", B, json=lock_body("L1")).status_code == 200
    assert client.request("UNLOCK", B, json=lock_body("L1")).status_code == 200


def test_empty_chunked_unlock_is_force_unlock(client: TestClient) -> None:
    """terraform force-unlock sends an empty chunked body and no ID: it must succeed."""
    client.request("LOCK", B, json=lock_body("L1"))

    def empty() -> Iterator[bytes]:  # a generator body makes the client send it chunked
        yield b""

    r = client.request(
        "UNLOCK",
        B,
        content=empty(),
        headers={"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==", "Content-Type": "application/json"},
    )
    assert r.status_code == 200
    assert client.get("/v1/units/myapp/prod").json()["locked"] is False


def test_invalid_state_is_400_and_previous_state_stays(client: TestClient) -> None:
    """Non-JSON and non-object payloads are refused; the stored state is untouched."""
    client.post(B, content=tfstate(0))
    for bad in (b"garbage", b"[1]", b'"str"'):
        r = client.post(B, content=bad)
        assert r.status_code == 400
        assert "error" in r.json()
    assert client.get(B).content == tfstate(0)


def test_content_md5_mismatch_is_refused(client: TestClient) -> None:
    """A body that does not match its Content-MD5 is refused (damaged in transit)."""
    r = client.post(B, content=tfstate(0), headers={"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="})
    assert r.status_code == 400
    assert "Content-MD5" in r.json()["error"]


def test_too_large_is_413(client: TestClient) -> None:
    """A state over OPENTACO_MAX_STATE_BYTES is refused with 413, declared or chunked."""
    big = json.dumps({"serial": 1, "pad": "x" * 70_000}).encode()
    assert client.post(B, content=big).status_code == 413

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    assert client.post(B, content=chunks()).status_code == 413
    assert client.get(B).status_code == 404


def test_chunked_write_is_accepted(client: TestClient) -> None:
    """Chunked request bodies are decoded and stored whole."""
    data = tfstate(0)

    def chunks() -> Iterator[bytes]:
        yield data[:10]
        yield data[10:]

    assert client.post(B, content=chunks()).status_code == 200
    assert client.get(B).content == data


def test_clobber_guard_on_backend_is_409_and_quarantines(client: TestClient) -> None:
    """Another lineage over a real state is refused with 409 and kept in quarantine."""
    client.post(B, content=tfstate(3))
    r = client.post(B, content=tfstate(1, lineage="OTHER"))
    assert r.status_code == 409
    body = r.json()
    assert body["quarantined_version"] == 2
    assert "lineage" in body["error"]
    assert client.get(B).content == tfstate(3)
    assert client.get("/v1/units/myapp/prod/versions/2").content == tfstate(1, lineage="OTHER")


def test_invalid_unit_id_is_400(client: TestClient) -> None:
    """The backend validates IDs like everything else."""
    r = client.post("/v1/backend/bad id", content=tfstate(0))
    assert r.status_code == 400
    assert "letters, digits" in r.json()["error"]


def test_put_works_like_post_and_delete_removes(client: TestClient) -> None:
    """PUT stores like POST; DELETE removes the unit (soft delete)."""
    assert client.put(B, content=tfstate(0)).status_code == 200
    assert client.delete(B).status_code == 200
    assert client.get(B).status_code == 404
    assert client.get("/v1/units?deleted=true").json()["count"] == 1


def test_system_unit_is_writable_through_backend(client: TestClient) -> None:
    """The reserved __opentaco_system unit is addressable by the backend (graph lives there)."""
    assert client.post("/v1/backend/__opentaco_system", content=tfstate(0)).status_code == 200
    assert client.get("/v1/units/__opentaco_system").json()["id"] == "__opentaco_system"


def test_address_is_reusable_after_backend_delete(client: TestClient) -> None:
    """After DELETE the same address takes LOCK and writes again (a fresh unit)."""
    client.post(B, content=tfstate(5))
    assert client.delete(B).status_code == 200
    assert client.request("LOCK", B, json=lock_body("L9")).status_code == 200
    assert client.post(f"{B}?ID=L9", content=tfstate(0, lineage="NEW")).status_code == 200
    assert client.get(B).content == tfstate(0, lineage="NEW")
    assert client.request("UNLOCK", B, json=lock_body("L9")).status_code == 200


def test_unlock_of_missing_unit_is_200(client: TestClient) -> None:
    """force-unlock of an address that never existed succeeds: nothing is locked."""
    assert client.request("UNLOCK", "/v1/backend/never/was").status_code == 200


def test_a_state_without_lineage_and_serial_cannot_replace_a_real_one(client: TestClient) -> None:
    """{} over a Terraform state is refused (409) and quarantined; the owner's
    next write is accepted as if nothing had happened."""
    assert client.post(B, content=tfstate(3)).status_code == 200
    r = client.post(B, content=b"{}")
    assert r.status_code == 409
    assert "'lineage'" in r.json()["error"] and "'serial'" in r.json()["error"]
    assert r.json()["quarantined_version"] is not None
    assert client.get(B).content == tfstate(3)
    assert client.post(B, content=tfstate(4)).status_code == 200


def test_an_id_naming_a_lock_object_is_refused(client: TestClient) -> None:
    """A unit ID ending in terraform.tfstate.tflock is 400 (it would block its parent's
    lock in S3 storage); nothing is created and the parent still locks."""
    r = client.request("LOCK", "/v1/backend/myapp/terraform.tfstate.tflock", json=lock_body("x"))
    assert r.status_code == 400
    assert "reserved" in r.json()["error"]
    assert client.request("LOCK", "/v1/backend/myapp", json=lock_body("y")).status_code == 200


@pytest.mark.parametrize("body", [b"{}", b'{"ID": ""}', b'{"ID": null}', b'{"Who": "me"}'])
def test_unlock_naming_no_lock_does_not_force(client: TestClient, body: bytes) -> None:
    """Only an empty body forces an unlock: a LockInfo without an ID is 400 and the lock stays."""
    assert client.request("LOCK", B, json=lock_body("held")).status_code == 200
    r = client.request("UNLOCK", B, content=body)
    assert r.status_code == 400
    assert "empty body to force" in r.json()["error"]
    assert client.get("/v1/units/myapp/prod").json()["lock"]["id"] == "held"


def test_unlock_takes_the_id_from_the_header(client: TestClient) -> None:
    """A LockInfo without an ID may name the lock in X-Terraform-Lock-ID instead."""
    assert client.request("LOCK", B, json=lock_body("held")).status_code == 200
    wrong = client.request("UNLOCK", B, content=b"{}", headers={"X-Terraform-Lock-ID": "other"})
    assert wrong.status_code == 423
    r = client.request("UNLOCK", B, content=b"{}", headers={"X-Terraform-Lock-ID": "held"})
    assert r.status_code == 200
    assert client.get("/v1/units/myapp/prod").json()["locked"] is False


def test_a_413_on_a_small_body_names_that_body(client: TestClient) -> None:
    """An oversized lock request is 413 naming the LockInfo, not "state"."""
    big = json.dumps({"ID": "x", "Info": "i" * 70_000}).encode()
    r = client.request("LOCK", B, content=big)
    assert r.status_code == 413
    assert r.json()["error"].startswith("LockInfo exceeds the size limit")
    assert r.json()["kind"] == "body_too_large"
    assert r.json()["what"] == "LockInfo"
    r = client.post("/v1/units", content=b'{"id": "' + b"a" * 70_000 + b'"}')
    assert r.status_code == 413
    assert "state" not in r.json()["error"]


def test_refused_writes_are_logged_with_unit_reason_and_version(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A 409 from the clobber guard and a 423 on a write are WARNING records naming
    the unit, the reason and the quarantined version; lock contention is INFO."""
    assert client.post(B, content=tfstate(5)).status_code == 200
    with caplog.at_level(logging.INFO, logger="opentaco.http"):
        rejected = client.post(B, content=tfstate(4))
        assert rejected.status_code == 409
        number = rejected.json()["quarantined_version"]
        assert client.request("LOCK", B, json=lock_body("held")).status_code == 200
        assert client.post(B, content=tfstate(6)).status_code == 423
        assert client.request("LOCK", B, json=lock_body("other")).status_code == 423
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "'myapp/prod'" in m and "older than the current serial" in m and f"version {number}" in m
        for m in warnings
    ), warnings
    assert any("POST" in m and "locked by lock held" in m for m in warnings), warnings
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("LOCK" in m and "locked by lock held" in m for m in infos), infos
