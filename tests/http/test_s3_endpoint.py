"""The S3 endpoint over a real socket, driven by boto3 and by botocore-signed requests:
objects, ranges, listings, lockfiles, multipart uploads, and every kind of hostile or
unknown request, none of which reaches a 500 or changes anything."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3.s3.transfer  # type: ignore[import-untyped]
import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from taco_core.auth import ANONYMOUS
from taco_http.context import STATE_KEY
from taco_http.s3_endpoint import S3Endpoint
from taco_http.settings import Settings
from taco_http.wiring import open_adapters, open_services
from tests.http.s3_endpoint_server import FixedPayloadSigner, S3Server, run_server
from tests.unit.graph_states import edge_resource, encode, graph_state
from tests.unit.s3signing import signed_chunks

MIB = 1024 * 1024


def state(serial: int = 1, lineage: str = "lin-1", **outputs: str) -> bytes:
    doc = {
        "version": 4,
        "serial": serial,
        "lineage": lineage,
        "outputs": {k: {"value": v, "type": "string"} for k, v in outputs.items()},
        "resources": [],
    }
    return json.dumps(doc, indent=2).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    yield from run_server(tmp_path_factory.mktemp("s3-endpoint"))


@pytest.fixture(scope="module")
def s3(server: S3Server) -> Any:
    return server.s3()


def code_of(error: ClientError) -> tuple[int, str]:
    return error.response["ResponseMetadata"]["HTTPStatusCode"], error.response["Error"]["Code"]


def refused(call: Any, *args: Any, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    return code_of(raised.value)


def xml_code(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/xml"), response.text
    assert "<RequestId>" in response.text
    return response.text.split("<Code>")[1].split("</Code>")[0]


def unit_status(server: S3Server, unit: str) -> int:
    return server.api("GET", f"/v1/units/{unit}").status_code


# -- objects -----------------------------------------------------------------------


def test_put_get_head_round_trip_through_the_unit(server: S3Server, s3: Any) -> None:
    """A state put through S3 is the unit's state, byte for byte, for the HTTP backend;
    GET and HEAD give the same ETag; history records the S3 endpoint and the signer."""
    data = state(greeting="hi")
    put = s3.put_object(Bucket="opentaco", Key="objects/app/terraform.tfstate", Body=data)
    etag = f'"{hashlib.md5(data).hexdigest()}"'
    assert put["ETag"] == etag
    got = s3.get_object(Bucket="opentaco", Key="objects/app/terraform.tfstate")
    assert got["Body"].read() == data
    assert got["ETag"] == etag
    assert got["ContentLength"] == len(data)
    head = s3.head_object(Bucket="opentaco", Key="objects/app/terraform.tfstate")
    assert (head["ETag"], head["ContentLength"]) == (etag, len(data))
    assert server.api("GET", "/v1/backend/objects/app").content == data
    (version,) = server.api("GET", "/v1/units/objects/app/versions").json()["versions"]
    assert (version["surface"], version["author"]) == ("s3-endpoint", "admin")
    assert version["sha256"] == hashlib.sha256(data).hexdigest()


def test_ranges_and_checksum_mode(server: S3Server, s3: Any) -> None:
    """Range answers 206 with Content-Range; a range past the end is 416 InvalidRange; the
    checksum comes back only on answers that carry the whole object."""
    data = state(filler="x" * 500)
    s3.put_object(Bucket="opentaco", Key="ranges/app/terraform.tfstate", Body=data)
    key = {"Bucket": "opentaco", "Key": "ranges/app/terraform.tfstate"}
    part = s3.get_object(**key, Range="bytes=2-9")
    assert part["Body"].read() == data[2:10]
    assert part["ContentRange"] == f"bytes 2-9/{len(data)}"
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(**key, Range="bytes=-5")["Body"].read() == data[-5:]
    assert s3.get_object(**key, Range=f"bytes=10-{len(data) * 2}")["Body"].read() == data[10:]
    assert refused(s3.get_object, **key, Range=f"bytes={len(data)}-") == (416, "InvalidRange")
    whole = read(s3.get_object(**key, ChecksumMode="ENABLED"))
    assert whole["ChecksumSHA256"] == boto3_sha256(data)
    terraformish = read(s3.get_object(**key, Range="bytes=0-5242879", ChecksumMode="ENABLED"))
    assert terraformish["ChecksumSHA256"] == boto3_sha256(data)
    partial = read(s3.get_object(**key, Range="bytes=0-9", ChecksumMode="ENABLED"))
    assert "ChecksumSHA256" not in partial
    head = s3.head_object(**key, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == boto3_sha256(data)


def boto3_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def read(response: dict[str, Any]) -> dict[str, Any]:
    """A GetObject answer with its body read, so its connection goes back to the pool."""
    response["Body"].read()
    return response


def test_missing_state_is_no_such_key_and_head_has_no_body(server: S3Server, s3: Any) -> None:
    """A unit without state, or none at all, is 404 NoSuchKey; HEAD answers an empty 404."""
    assert refused(s3.get_object, Bucket="opentaco", Key="nothing/terraform.tfstate") == (
        404,
        "NoSuchKey",
    )
    server.api("POST", "/v1/units", json={"id": "empty/unit"})
    assert refused(s3.get_object, Bucket="opentaco", Key="empty/unit/terraform.tfstate")[1] == (
        "NoSuchKey"
    )
    head = server.signed("HEAD", "/s3/opentaco/nothing/terraform.tfstate")
    assert (head.status_code, head.content) == (404, b"")


def test_conditional_reads(server: S3Server, s3: Any) -> None:
    """If-Match with another ETag is 412; If-None-Match with the current one is 304."""
    data = state()
    s3.put_object(Bucket="opentaco", Key="cond/app/terraform.tfstate", Body=data)
    etag = f'"{hashlib.md5(data).hexdigest()}"'
    path = "/s3/opentaco/cond/app/terraform.tfstate"
    assert server.signed("GET", path, headers=[("If-Match", '"other"')]).status_code == 412
    assert server.signed("GET", path, headers=[("If-Match", etag)]).content == data
    assert server.signed("GET", path, headers=[("If-None-Match", etag)]).status_code == 304


def test_bad_states_are_refused_with_the_reason(server: S3Server, s3: Any) -> None:
    """Not JSON is 400 InvalidArgument; a write the clobber guard refuses is 409
    StateRejected; neither becomes the current state."""
    key = {"Bucket": "opentaco", "Key": "guard/app/terraform.tfstate"}
    assert refused(s3.put_object, **key, Body=b"not json") == (400, "InvalidArgument")
    s3.put_object(**key, Body=state(serial=5))
    assert refused(s3.put_object, **key, Body=state(serial=2)) == (409, "StateRejected")
    assert refused(s3.put_object, **key, Body=state(serial=9, lineage="other"))[1] == (
        "StateRejected"
    )
    assert json.loads(s3.get_object(**key)["Body"].read())["serial"] == 5


def test_too_large_is_refused_before_reading(server: S3Server) -> None:
    """A body declared over OPENTACO_MAX_STATE_BYTES is EntityTooLarge; nothing is stored."""
    body = b"{" + b" " * (17 * MIB) + b"}"
    reply = server.signed("PUT", "/s3/opentaco/huge/app/terraform.tfstate", body=body)
    assert (reply.status_code, xml_code(reply)) == (400, "EntityTooLarge")
    assert unit_status(server, "huge/app") == 404


def test_delete_soft_deletes_the_unit(server: S3Server, s3: Any) -> None:
    """Deleting a state soft-deletes its unit (undelete brings it back); deleting what is
    not there succeeds, as in S3."""
    key = {"Bucket": "opentaco", "Key": "gone/app/terraform.tfstate"}
    s3.put_object(**key, Body=state())
    s3.delete_object(**key)
    assert unit_status(server, "gone/app") == 404
    assert server.api("POST", "/v1/units/gone/app/undelete").status_code == 200
    s3.delete_object(Bucket="opentaco", Key="never/there/terraform.tfstate")


def test_namespace_buckets(server: S3Server, s3: Any) -> None:
    """Bucket acme holds the units under acme/; the root bucket sees them too; a bucket
    name that cannot be a namespace is InvalidBucketName."""
    s3.put_object(Bucket="acme", Key="web/terraform.tfstate", Body=state(serial=1))
    s3.put_object(Bucket="acme", Key="terraform.tfstate", Body=state(serial=3))
    assert server.api("GET", "/v1/backend/acme/web").content == state(serial=1)
    root = s3.get_object(Bucket="opentaco", Key="acme/web/terraform.tfstate")["Body"].read()
    assert root == state(serial=1)
    assert json.loads(server.api("GET", "/v1/backend/acme").content)["serial"] == 3
    reply = server.signed("GET", "/s3/a__b/web/terraform.tfstate")
    assert (reply.status_code, xml_code(reply)) == (400, "InvalidBucketName")


def test_keys_that_are_not_states_are_refused(server: S3Server, s3: Any) -> None:
    """Any other key is InvalidArgument, with the rule in the message."""
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket="opentaco", Key="notes/readme.txt", Body=b"{}")
    assert code_of(raised.value) == (400, "InvalidArgument")
    assert "terraform.tfstate" in raised.value.response["Error"]["Message"]
    assert refused(s3.get_object, Bucket="opentaco", Key="_env/x/y/terraform.tfstate")[0] == 400


# -- listing -----------------------------------------------------------------------


def test_listing_v2_and_v1_with_prefix_delimiter_and_pages(server: S3Server, s3: Any) -> None:
    """Units with a state are listed as keys, sorted, paged (continuation tokens and
    markers), grouped at the delimiter; units without state are not."""
    for path in ("list/a", "list/b/x", "list/b/y", "list/c"):
        s3.put_object(Bucket="opentaco", Key=f"{path}/terraform.tfstate", Body=state())
    server.api("POST", "/v1/units", json={"id": "list/empty"})
    keys = [
        "list/a/terraform.tfstate",
        "list/b/x/terraform.tfstate",
        "list/b/y/terraform.tfstate",
        "list/c/terraform.tfstate",
    ]
    paginator = s3.get_paginator("list_objects_v2")
    pages = list(paginator.paginate(Bucket="opentaco", Prefix="list/", MaxKeys=3))
    assert [len(p.get("Contents", [])) for p in pages] == [3, 1]
    assert [o["Key"] for p in pages for o in p["Contents"]] == keys
    assert pages[0]["Contents"][0]["Size"] == len(state())
    grouped = s3.list_objects_v2(Bucket="opentaco", Prefix="list/", Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["list/a/", "list/b/", "list/c/"]
    assert "Contents" not in grouped
    v1 = list(
        s3.get_paginator("list_objects").paginate(Bucket="opentaco", Prefix="list/", MaxKeys=2)
    )
    assert [o["Key"] for p in v1 for o in p["Contents"]] == keys
    after = s3.list_objects_v2(Bucket="opentaco", Prefix="list/", StartAfter=keys[1])
    assert [o["Key"] for o in after["Contents"]] == keys[2:]
    sub = s3.list_objects_v2(Bucket="list", Prefix="b/")
    assert [o["Key"] for o in sub["Contents"]] == ["b/x/terraform.tfstate", "b/y/terraform.tfstate"]


def test_listing_env_prefix_finds_workspaces(server: S3Server, s3: Any) -> None:
    """What Terraform lists (prefix env:/) finds the workspaces of every key, which are
    the units under _env/."""
    s3.put_object(Bucket="opentaco", Key="env:/dev/wsapp/terraform.tfstate", Body=state())
    s3.put_object(Bucket="opentaco", Key="env:/qa/wsapp/terraform.tfstate", Body=state())
    assert server.api("GET", "/v1/backend/_env/dev/wsapp").content == state()
    listed = s3.list_objects_v2(Bucket="opentaco", Prefix="env:/")
    keys = [o["Key"] for o in listed["Contents"]]
    assert {"env:/dev/wsapp/terraform.tfstate", "env:/qa/wsapp/terraform.tfstate"} <= set(keys)
    assert all(k.startswith("env:/") for k in keys)
    terraform_1_0 = server.signed("GET", "/s3/opentaco", query="max-keys=1000&prefix=env%3A%2F")
    assert "<Key>env:/dev/wsapp/terraform.tfstate</Key>" in terraform_1_0.text


# -- lockfiles ---------------------------------------------------------------------


def lockfile(lock_id: str, who: str = "alice@laptop") -> bytes:
    info = {"ID": lock_id, "Operation": "OperationTypeApply", "Who": who, "Version": "1.15.5"}
    return json.dumps(info).encode()


def test_lockfile_is_the_units_lock(server: S3Server, s3: Any) -> None:
    """PUT .tflock with If-None-Match locks the unit: a second is 412 naming the holder,
    the HTTP backend's LOCK is 423; the holder writes the state, someone else cannot;
    GET .tflock shows the lock; DELETE unlocks."""
    key = {"Bucket": "opentaco", "Key": "locked/app/terraform.tfstate.tflock"}
    s3.put_object(**key, Body=lockfile("lock-1"), IfNoneMatch="*")
    with pytest.raises(ClientError) as raised:
        s3.put_object(**key, Body=lockfile("lock-2"), IfNoneMatch="*")
    assert code_of(raised.value) == (412, "PreconditionFailed")
    assert "lock-1" in raised.value.response["Error"]["Message"]
    assert refused(s3.put_object, **key, Body=lockfile("lock-3")) == (412, "PreconditionFailed")
    http_lock = server.api("LOCK", "/v1/backend/locked/app", json={"ID": "http-lock"})
    assert http_lock.status_code == 423
    held = json.loads(s3.get_object(**key)["Body"].read())
    assert (held["ID"], held["Who"]) == ("lock-1", "alice@laptop")
    state_key = {"Bucket": "opentaco", "Key": "locked/app/terraform.tfstate"}
    s3.put_object(**state_key, Body=state())
    other_secret, _ = server.token("other-job")
    other = server.s3(server.creds(other_secret))
    assert refused(other.put_object, **state_key, Body=state(serial=2)) == (409, "StateLocked")
    assert refused(other.delete_object, **state_key) == (409, "StateLocked")
    s3.delete_object(**key)
    assert refused(s3.get_object, **key) == (404, "NoSuchKey")
    assert server.api("GET", "/v1/units/locked/app").json()["locked"] is False
    other.put_object(**state_key, Body=state(serial=2))


def test_what_the_endpoint_changes_is_audited_as_its_surface(server: S3Server, s3: Any) -> None:
    """A lock, a write, an unlock and a delete through S3 are in the audit
    trail with surface s3-endpoint, the signer and the request's ID; a
    refusal under someone else's lock is recorded too."""
    lock_key = {"Bucket": "opentaco", "Key": "audited/app/terraform.tfstate.tflock"}
    state_key = {"Bucket": "opentaco", "Key": "audited/app/terraform.tfstate"}
    s3.put_object(**lock_key, Body=lockfile("lock-a"), IfNoneMatch="*")
    s3.put_object(**state_key, Body=state())
    other_secret, _ = server.token("audited-other")
    other = server.s3(server.creds(other_secret))
    assert refused(other.put_object, **state_key, Body=state(serial=2)) == (409, "StateLocked")
    s3.delete_object(**lock_key)
    s3.delete_object(**state_key)
    reply = server.api("GET", "/v1/audit", params={"unit": "audited/app"})
    assert reply.status_code == 200, reply.text
    records = reply.json()["records"]
    assert [(r["action"], r["surface"], r["subject"]) for r in records] == [
        ("create", "s3-endpoint", "admin"),
        ("lock", "s3-endpoint", "admin"),
        ("state.write", "s3-endpoint", "admin"),
        ("lock.refused", "s3-endpoint", "admin"),
        ("unlock", "s3-endpoint", "admin"),
        ("delete", "s3-endpoint", "admin"),
    ]
    assert records[1]["lock_id"] == "lock-a" and records[2]["version"] == 1
    assert all(r["request_id"] and r["origin"] == "127.0.0.1" for r in records)


def test_lockfile_without_an_id_gets_one(server: S3Server, s3: Any) -> None:
    """A lockfile that names no ID (or is empty) still locks, under a fresh ID."""
    key = {"Bucket": "opentaco", "Key": "noid/app/terraform.tfstate.tflock"}
    s3.put_object(**key, Body=b'{"Who": "script"}', IfNoneMatch="*")
    held = json.loads(s3.get_object(**key)["Body"].read())
    assert held["ID"] and held["Who"] == "script"
    s3.delete_object(**key)
    s3.put_object(**key, Body=b"", IfNoneMatch="*")
    assert json.loads(s3.get_object(**key)["Body"].read())["ID"]
    s3.delete_object(**key)
    assert refused(s3.put_object, **key, Body=b"[1, 2]") == (400, "InvalidArgument")


def test_locks_taken_elsewhere_refuse_the_lockfile(server: S3Server, s3: Any) -> None:
    """A lock taken through the management API makes the lockfile 412; force-unlock (a
    DELETE by anyone allowed to lock) releases it."""
    reply = server.api("POST", "/v1/units", json={"id": "mgmt/app"})
    assert reply.status_code == 201
    taken = server.api("POST", "/v1/units/mgmt/app/lock", json={"who": "ops"})
    assert taken.status_code == 200, taken.text
    key = {"Bucket": "opentaco", "Key": "mgmt/app/terraform.tfstate.tflock"}
    assert refused(s3.put_object, **key, Body=lockfile("tf"), IfNoneMatch="*")[0] == 412
    assert json.loads(s3.get_object(**key)["Body"].read())["Who"] == "ops"
    s3.delete_object(**key)
    assert server.api("GET", "/v1/units/mgmt/app").json()["locked"] is False


# -- multipart ---------------------------------------------------------------------


def big_state(size: int) -> bytes:
    head = b'{"version": 4, "serial": 1, "lineage": "big", "outputs": {"x": {"value": "'
    tail = b'", "type": "string"}}, "resources": []}'
    return head + b"y" * (size - len(head) - len(tail)) + tail


def test_multipart_upload_with_boto3_transfer(server: S3Server, s3: Any) -> None:
    """boto3's managed upload of an 11 MiB state (three parts, checksummed) is stored
    whole, and the ranged parallel download reads it back."""
    data = big_state(11 * MIB)
    config = boto3.s3.transfer.TransferConfig(
        multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB
    )
    s3.upload_fileobj(io.BytesIO(data), "opentaco", "multi/app/terraform.tfstate", Config=config)
    assert server.api("GET", "/v1/backend/multi/app").content == data
    sink = io.BytesIO()
    s3.download_fileobj("opentaco", "multi/app/terraform.tfstate", sink, Config=config)
    assert sink.getvalue() == data


def create(s3: Any, key: str) -> str:
    upload_id: str = s3.create_multipart_upload(Bucket="opentaco", Key=key)["UploadId"]
    return upload_id


def test_multipart_rules(server: S3Server, s3: Any) -> None:
    """Parts under 5 MiB (but the last) are EntityTooSmall, a wrong ETag InvalidPart,
    parts out of order InvalidPartOrder; an aborted upload is NoSuchUpload; another
    principal cannot use someone's upload ID; nothing is stored."""
    key = "rules/app/terraform.tfstate"
    upload_id = create(s3, key)
    first = s3.upload_part(
        Bucket="opentaco", Key=key, UploadId=upload_id, PartNumber=1, Body=b"{" + b" " * 100
    )
    last = s3.upload_part(Bucket="opentaco", Key=key, UploadId=upload_id, PartNumber=2, Body=b"}")
    parts = [
        {"PartNumber": 1, "ETag": first["ETag"]},
        {"PartNumber": 2, "ETag": last["ETag"]},
    ]

    def complete(listed: list[dict[str, Any]], upload: str = upload_id, client: Any = s3) -> Any:
        return client.complete_multipart_upload(
            Bucket="opentaco", Key=key, UploadId=upload, MultipartUpload={"Parts": listed}
        )

    assert refused(complete, parts) == (400, "EntityTooSmall")
    assert refused(complete, [parts[0] | {"ETag": '"0000"'}]) == (400, "InvalidPart")
    assert refused(complete, list(reversed(parts))) == (400, "InvalidPartOrder")
    assert refused(complete, [{"PartNumber": 7, "ETag": first["ETag"]}]) == (400, "InvalidPart")
    other_secret, _ = server.token("intruder")
    other = server.s3(server.creds(other_secret))
    assert refused(complete, parts[:1], client=other) == (404, "NoSuchUpload")
    assert refused(
        other.upload_part, Bucket="opentaco", Key=key, UploadId=upload_id, PartNumber=3, Body=b"x"
    ) == (404, "NoSuchUpload")
    s3.abort_multipart_upload(Bucket="opentaco", Key=key, UploadId=upload_id)
    assert refused(complete, parts[1:]) == (404, "NoSuchUpload")
    assert unit_status(server, "rules/app") == 404


def test_staged_bytes_are_capped_by_the_state_limit(server: S3Server, s3: Any) -> None:
    """Parts that together exceed OPENTACO_MAX_STATE_BYTES are refused as they arrive."""
    key = "capped/app/terraform.tfstate"
    upload_id = create(s3, key)
    for number in (1, 2, 3):
        s3.upload_part(
            Bucket="opentaco", Key=key, UploadId=upload_id, PartNumber=number, Body=b"z" * (5 * MIB)
        )
    too_much = (
        s3.upload_part,
        {"Bucket": "opentaco", "Key": key, "UploadId": upload_id, "PartNumber": 4},
    )
    assert refused(too_much[0], **too_much[1], Body=b"z" * (2 * MIB)) == (400, "EntityTooLarge")
    s3.upload_part(Bucket="opentaco", Key=key, UploadId=upload_id, PartNumber=3, Body=b"z")
    s3.abort_multipart_upload(Bucket="opentaco", Key=key, UploadId=upload_id)


def test_malformed_part_lists_are_refused(server: S3Server, s3: Any) -> None:
    """Not XML, a DTD with entities, deep nesting, a foreign root: all MalformedXML."""
    key = "xml/app/terraform.tfstate"
    upload_id = create(s3, key)
    path = f"/s3/opentaco/{key}"
    bodies = [
        b"not xml",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><CompleteMultipartUpload/>',
        b"<CompleteMultipartUpload>"
        + b"<Part>" * 50_000
        + b"</Part>" * 50_000
        + b"</CompleteMultipartUpload>",
        b"<Other><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Other>",
        b"<CompleteMultipartUpload></CompleteMultipartUpload>",
    ]
    for body in bodies:
        reply = server.signed("POST", path, query=f"uploadId={upload_id}", body=body)
        assert (reply.status_code, xml_code(reply)) == (400, "MalformedXML"), body[:60]
    s3.abort_multipart_upload(Bucket="opentaco", Key=key, UploadId=upload_id)


# -- authentication ----------------------------------------------------------------


def test_unsigned_and_bearer_requests_are_refused(server: S3Server) -> None:
    """No signature is 403 AccessDenied, and a bearer token is no signature (S3's 400
    "Unsupported Authorization Type")."""
    path = "/s3/opentaco/auth/app/terraform.tfstate"
    assert xml_code(httpx.put(server.url + path, content=state())) == "AccessDenied"
    reply = server.api("PUT", path, content=state())
    assert (reply.status_code, xml_code(reply)) == (400, "InvalidArgument")
    assert "Unsupported Authorization Type" in reply.text
    assert unit_status(server, "auth/app") == 404


def test_wrong_secret_and_foreign_keys_are_refused(server: S3Server) -> None:
    """A wrong secret is SignatureDoesNotMatch; a key that is not its token's is
    InvalidAccessKeyId; no session token is InvalidToken; nothing is written."""
    creds = server.creds()
    other = server.creds()
    key = {"Bucket": "opentaco", "Key": "forged/app/terraform.tfstate", "Body": state()}
    wrong_secret = server.s3(creds | {"SecretAccessKey": other["SecretAccessKey"]})
    assert refused(wrong_secret.put_object, **key) == (403, "SignatureDoesNotMatch")
    swapped = server.s3(creds | {"AccessKeyId": other["AccessKeyId"]})
    assert refused(swapped.put_object, **key) == (403, "InvalidAccessKeyId")
    tokenless = server.s3({k: v for k, v in creds.items() if k != "SessionToken"})
    assert refused(tokenless.put_object, **key) == (400, "InvalidToken")
    forged_token = creds["SessionToken"][:-4] + "AAAA"
    forged = server.s3(creds | {"SessionToken": forged_token})
    assert refused(forged.put_object, **key)[1] in ("InvalidAccessKeyId", "InvalidToken")
    assert unit_status(server, "forged/app") == 404


def test_expired_credentials_are_expired_token(server: S3Server) -> None:
    """Credentials issued two hours ago are refused with ExpiredToken."""
    server.clock.offset = -timedelta(hours=2)
    try:
        old = server.creds()
    finally:
        server.clock.offset = timedelta(0)
    assert refused(
        server.s3(old).put_object, Bucket="opentaco", Key="late/terraform.tfstate", Body=state()
    ) == (400, "ExpiredToken")


def auth_failures(server: S3Server) -> dict[str, float]:
    """``opentaco_auth_failures_total`` by kind, as the server's /metrics says."""
    text = httpx.get(server.url + "/metrics").text
    return {
        sample.labels["kind"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "opentaco_auth_failures"
        for sample in family.samples
        if sample.name == "opentaco_auth_failures_total"
    }


def test_refused_signatures_count_as_auth_failures(server: S3Server) -> None:
    """An unsigned request and a wrong signature count as kind s3, expired
    credentials as s3_expired, and neither as a 403 'forbidden'."""
    before = auth_failures(server)
    path = "/s3/opentaco/counted/app/terraform.tfstate"
    assert xml_code(httpx.put(server.url + path, content=state())) == "AccessDenied"
    creds, other = server.creds(), server.creds()
    wrong = server.s3(creds | {"SecretAccessKey": other["SecretAccessKey"]})
    key = {"Bucket": "opentaco", "Key": "counted/app/terraform.tfstate", "Body": state()}
    assert refused(wrong.put_object, **key) == (403, "SignatureDoesNotMatch")
    server.clock.offset = -timedelta(hours=2)
    try:
        old = server.creds()
    finally:
        server.clock.offset = timedelta(0)
    assert refused(server.s3(old).put_object, **key) == (400, "ExpiredToken")
    after = auth_failures(server)
    assert after.get("s3", 0) - before.get("s3", 0) == 2
    assert after.get("s3_expired", 0) - before.get("s3_expired", 0) == 1
    assert after.get("forbidden", 0) == before.get("forbidden", 0)


def test_revoking_the_api_token_kills_its_s3_credentials(server: S3Server) -> None:
    """Credentials issued to an API token work until the token is revoked, then are
    AccessDenied at once."""
    secret, token_id = server.token("ci-job")
    client = server.s3(server.creds(secret))
    key = {"Bucket": "opentaco", "Key": "revoked/app/terraform.tfstate"}
    client.put_object(**key, Body=state())
    assert server.api("DELETE", f"/v1/auth/tokens/{token_id}").status_code == 204
    assert refused(client.put_object, **key, Body=state(serial=2)) == (403, "AccessDenied")
    assert refused(client.get_object, **key) == (403, "AccessDenied")
    assert json.loads(server.api("GET", "/v1/backend/revoked/app").content)["serial"] == 1


def test_presigned_urls(server: S3Server, s3: Any) -> None:
    """A presigned GET works from any HTTP client; with its signature changed it is 403."""
    s3.put_object(Bucket="opentaco", Key="presign/app/terraform.tfstate", Body=state())
    url = s3.generate_presigned_url(
        "get_object",
        Params={"Bucket": "opentaco", "Key": "presign/app/terraform.tfstate"},
        ExpiresIn=60,
    )
    assert httpx.get(url).content == state()
    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    reply = httpx.get(tampered)
    assert (reply.status_code, xml_code(reply)) == (403, "SignatureDoesNotMatch")


def test_tampered_chunk_is_refused_and_nothing_stored(server: S3Server) -> None:
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload whose chunk was changed after signing
    is refused; the same body untouched is stored."""
    creds = server.creds()
    data = state(chunked="yes")
    path = "/s3/opentaco/chunked/app/terraform.tfstate"

    def send(tamper: bool) -> httpx.Response:
        mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        request = AWSRequest(
            method="PUT",
            url=server.url + path,
            headers={
                "Content-Encoding": "aws-chunked",
                "x-amz-decoded-content-length": str(len(data)),
            },
        )
        signer = FixedPayloadSigner(
            Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]),
            "s3",
            "us-east-1",
        )
        signer.fixed_payload = mode
        signer.add_auth(request)
        headers = {k: v for k, v in request.prepare().headers.items() if k != "Content-Length"}
        seed = headers["Authorization"].rsplit("Signature=", 1)[1]
        body = signed_chunks(
            [data[:100], data[100:]],
            seed=seed,
            timestamp=headers["X-Amz-Date"],
            secret=creds["SecretAccessKey"],
        )
        if tamper:
            body = body.replace(b'"yes"', b'"no!"')
        return httpx.put(server.url + path, headers=headers, content=body)

    reply = send(tamper=True)
    assert (reply.status_code, xml_code(reply)) == (403, "SignatureDoesNotMatch")
    assert unit_status(server, "chunked/app") == 404
    assert send(tamper=False).status_code == 200
    assert server.api("GET", "/v1/backend/chunked/app").content == data


# -- authorization -----------------------------------------------------------------


def rule(actions: list[str], pattern: str) -> dict[str, Any]:
    return {"effect": "allow", "actions": actions, "resources": [pattern]}


def denial(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The S3 error body of a refused call, asserting it is 403 AccessDenied."""
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    assert code_of(raised.value) == (403, "AccessDenied")
    return dict(raised.value.response["Error"])


@pytest.fixture(scope="module")
def dev_writer(server: S3Server) -> Any:
    """An S3 client with the credentials of a token for subject ci-dev, which may read,
    write and lock dev/* and nothing else."""
    server.grant("ci-dev", "ci-dev", [rule(["unit.read", "unit.write", "unit.lock"], "dev/*")])
    return server.s3(server.creds(server.subject_token("ci-dev")))


def test_a_dev_writer_works_on_dev_through_s3(server: S3Server, dev_writer: Any) -> None:
    """Credentials from a dev/* writer's token write, lock, unlock and read dev units, as
    that subject."""
    key = {"Bucket": "opentaco", "Key": "dev/app/terraform.tfstate"}
    dev_writer.put_object(**key, Body=state())
    lock = {"Bucket": "opentaco", "Key": "dev/app/terraform.tfstate.tflock"}
    dev_writer.put_object(**lock, Body=lockfile("dev-1"), IfNoneMatch="*")
    dev_writer.put_object(**key, Body=state(serial=2))
    dev_writer.delete_object(**lock)
    assert dev_writer.get_object(**key)["Body"].read() == state(serial=2)
    versions = server.api("GET", "/v1/units/dev/app/versions").json()["versions"]
    assert {v["author"] for v in versions} == {"ci-dev"}


def test_a_dev_writer_cannot_touch_prod_through_s3(server: S3Server, dev_writer: Any) -> None:
    """Every operation on prod/* is AccessDenied naming the action and the unit, through
    any bucket that reaches it, whether the unit exists or not; prod/app is unchanged."""
    admin = server.s3()
    admin.put_object(Bucket="opentaco", Key="prod/app/terraform.tfstate", Body=state())
    before = server.api("GET", "/v1/units/prod/app/versions").json()
    key = {"Bucket": "opentaco", "Key": "prod/app/terraform.tfstate"}
    error = denial(dev_writer.put_object, **key, Body=state(serial=9))
    assert (error["Action"], error["Unit"]) == ("unit.write", "prod/app")
    assert error["Message"].startswith("permission denied: unit.write on unit 'prod/app'")
    assert denial(dev_writer.get_object, **key)["Unit"] == "prod/app"
    assert refused(dev_writer.head_object, **key) == (403, "403")
    lock = {"Bucket": "opentaco", "Key": "prod/app/terraform.tfstate.tflock"}
    locking = denial(dev_writer.put_object, **lock, Body=lockfile("p"), IfNoneMatch="*")
    assert (locking["Action"], locking["Unit"]) == ("unit.lock", "prod/app")
    assert denial(dev_writer.delete_object, **lock)["Unit"] == "prod/app"
    assert denial(dev_writer.delete_object, **key)["Action"] == "unit.delete"
    assert denial(dev_writer.create_multipart_upload, **key)["Action"] == "unit.write"
    via_namespace = {"Bucket": "prod", "Key": "app/terraform.tfstate"}
    assert denial(dev_writer.put_object, **via_namespace, Body=state())["Unit"] == "prod/app"
    missing = {"Bucket": "opentaco", "Key": "prod/nothing/terraform.tfstate"}
    assert denial(dev_writer.get_object, **missing)["Unit"] == "prod/nothing"
    assert denial(dev_writer.put_object, **missing, Body=state())["Unit"] == "prod/nothing"
    assert server.api("GET", "/v1/units/prod/app/versions").json() == before
    assert server.api("GET", "/v1/backend/prod/app").content == state()
    assert server.api("GET", "/v1/units/prod/app").json()["lock"] is None
    assert unit_status(server, "prod/nothing") == 404


def test_listings_show_only_what_the_signer_may_read(server: S3Server, dev_writer: Any) -> None:
    """ListObjects leaves out the units the signer may not read, in every bucket."""
    admin = server.s3()
    for unit in ("dev/listed", "prod/unlisted"):
        admin.put_object(Bucket="opentaco", Key=f"{unit}/terraform.tfstate", Body=state())
    keys = [o["Key"] for o in dev_writer.list_objects_v2(Bucket="opentaco")["Contents"]]
    assert "dev/listed/terraform.tfstate" in keys
    assert not [k for k in keys if not k.startswith("dev/")]
    assert dev_writer.list_objects_v2(Bucket="prod")["KeyCount"] == 0
    assert "Contents" not in dev_writer.list_objects(Bucket="opentaco", Prefix="prod/")
    assert admin.list_objects_v2(Bucket="prod", Prefix="unlisted/")["KeyCount"] == 1


def test_s3_credentials_keep_their_tokens_narrowing(server: S3Server) -> None:
    """Credentials issued to a token narrowed to one role act with that role only."""
    server.grant("ops", "ops-dev", [rule(["*"], "dev/*")])
    server.grant("ops", "ops-prod", [rule(["*"], "prod/*")])
    narrowed = server.s3(server.creds(server.subject_token("ops", roles=["ops-dev"])))
    narrowed.put_object(Bucket="opentaco", Key="dev/ops/terraform.tfstate", Body=state())
    key = {"Bucket": "opentaco", "Key": "prod/ops/terraform.tfstate"}
    assert denial(narrowed.put_object, **key, Body=state())["Unit"] == "prod/ops"
    whole = server.s3(server.creds(server.subject_token("ops")))
    whole.put_object(**key, Body=state())


def test_an_outputs_only_reader_gets_the_redacted_state(server: S3Server) -> None:
    """A signer allowed only unit.read_outputs gets the outputs-only state (its own ETag
    and length) and may not write."""
    data = json.loads(state(endpoint="db.internal"))
    data["outputs"]["password"] = {"value": "hunter2", "type": "string", "sensitive": True}
    data["resources"] = [{"mode": "managed", "type": "null_resource", "name": "x"}]
    raw = json.dumps(data).encode()
    server.s3().put_object(Bucket="opentaco", Key="shared/db/terraform.tfstate", Body=raw)
    server.grant("consumer", "consumer", [rule(["unit.read_outputs"], "shared/*")])
    reader = server.s3(server.creds(server.subject_token("consumer")))
    key = {"Bucket": "opentaco", "Key": "shared/db/terraform.tfstate"}
    got = reader.get_object(**key)
    body = got["Body"].read()
    seen = json.loads(body)
    assert seen["outputs"] == {"endpoint": {"value": "db.internal", "type": "string"}}
    assert seen["resources"] == []
    assert got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert reader.head_object(**key)["ContentLength"] == len(body)
    listed = reader.list_objects_v2(Bucket="opentaco", Prefix="shared/")["Contents"]
    assert [o["Key"] for o in listed] == ["shared/db/terraform.tfstate"]
    assert denial(reader.put_object, **key, Body=state())["Action"] == "unit.write"
    assert server.api("GET", "/v1/backend/shared/db").content == raw


def test_a_revoked_role_applies_to_live_credentials_at_once(server: S3Server) -> None:
    """Taking a role away refuses the very next request of credentials already issued,
    a part of a multipart upload started before included."""
    server.grant("temp", "temp", [rule(["unit.read", "unit.write"], "temp/*")])
    client = server.s3(server.creds(server.subject_token("temp")))
    key = {"Bucket": "opentaco", "Key": "temp/app/terraform.tfstate"}
    client.put_object(**key, Body=state())
    upload_id = client.create_multipart_upload(**key)["UploadId"]
    part = {**key, "UploadId": upload_id, "PartNumber": 1}
    client.upload_part(**part, Body=b"x" * 10)
    revoked = server.api(
        "POST", "/v1/rbac/users/revoke", json={"subject": "temp", "role_id": "temp"}
    )
    assert revoked.status_code == 200, revoked.text
    assert denial(client.upload_part, **part, Body=b"y" * 10)["Action"] == "unit.write"
    assert denial(client.get_object, **key)["Unit"] == "temp/app"
    assert denial(client.put_object, **key, Body=state(serial=2))["Unit"] == "temp/app"
    assert server.api("GET", "/v1/backend/temp/app").content == state()


# -- what is not served ------------------------------------------------------------

ODD = "/s3/opentaco/odd/app/terraform.tfstate"
BAD_ARG = "InvalidArgument"


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "status", "code"),
    [
        ("GET", "/s3", "", [], 501, "NotImplemented"),
        ("GET", "/s3/", "", [], 501, "NotImplemented"),
        ("GET", "/s3/opentaco", "acl", [], 501, "NotImplemented"),
        ("GET", "/s3/opentaco", "versioning", [], 501, "NotImplemented"),
        ("GET", "/s3/opentaco", "uploads", [], 501, "NotImplemented"),
        ("PUT", "/s3/newbucket", "", [], 501, "NotImplemented"),
        ("DELETE", "/s3/opentaco", "", [], 501, "NotImplemented"),
        ("POST", "/s3/opentaco", "delete", [], 501, "NotImplemented"),
        ("PUT", "/s3/opentaco", "policy", [], 501, "NotImplemented"),
        ("GET", "/s3/opentaco/odd/app/terraform.tfstate", "tagging", [], 501, "NotImplemented"),
        ("GET", "/s3/opentaco/odd/app/terraform.tfstate", "versionId=3", [], 501, "NotImplemented"),
        ("GET", "/s3/opentaco/odd/app/terraform.tfstate", "uploadId=x", [], 501, "NotImplemented"),
        ("PUT", "/s3/opentaco/odd/app/terraform.tfstate", "acl", [], 501, "NotImplemented"),
        (
            "PUT",
            "/s3/opentaco/odd/app/terraform.tfstate",
            "",
            [("x-amz-copy-source", "/opentaco/objects/app/terraform.tfstate")],
            501,
            "NotImplemented",
        ),
        ("POST", "/s3/opentaco/odd/app/terraform.tfstate", "", [], 501, "NotImplemented"),
        ("PATCH", "/s3/opentaco/odd/app/terraform.tfstate", "", [], 405, "MethodNotAllowed"),
        ("OPTIONS", "/s3/opentaco", "", [], 405, "MethodNotAllowed"),
        (
            "PUT",
            "/s3/opentaco/odd/app/terraform.tfstate",
            "partNumber=0&uploadId=x",
            [],
            400,
            "InvalidArgument",
        ),
        (
            "POST",
            "/s3/opentaco/odd/app/terraform.tfstate.tflock",
            "uploads",
            [],
            400,
            "InvalidRequest",
        ),
        ("GET", "/s3/opentaco", "list-type=1", [], 400, "InvalidArgument"),
        ("GET", "/s3/opentaco", "max-keys=-1", [], 400, "InvalidArgument"),
        (
            "GET",
            "/s3/opentaco",
            "list-type=2&continuation-token=%25%25",
            [],
            400,
            "InvalidArgument",
        ),
        (
            "PUT",
            "/s3/opentaco/odd/app/terraform.tfstate",
            "",
            [("If-None-Match", "*")],
            501,
            "NotImplemented",
        ),
    ],
)
def test_unknown_operations_answer_s3_errors(
    server: S3Server,
    method: str,
    path: str,
    query: str,
    headers: list[tuple[str, str]],
    status: int,
    code: str,
) -> None:
    """Operations and subresources the endpoint does not serve answer S3's own error,
    never a 500, and change nothing."""
    reply = server.signed(method, path, query=query, headers=headers, body=state())
    assert (reply.status_code, xml_code(reply)) == (status, code)
    assert unit_status(server, "odd/app") == 404


def test_bucket_head_answers_for_any_namespace(server: S3Server, s3: Any) -> None:
    """HeadBucket succeeds: buckets are namespaces, always there."""
    assert s3.head_bucket(Bucket="opentaco")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.head_bucket(Bucket="any-team")["ResponseMetadata"]["HTTPStatusCode"] == 200


# -- issuing credentials -------------------------------------------------------------


def test_issuing_credentials_needs_a_credential(server: S3Server) -> None:
    """POST /v1/auth/issue-s3-creds without a token is 401, like every /v1 route; the
    answer is never cached."""
    assert httpx.post(server.url + "/v1/auth/issue-s3-creds").status_code == 401
    reply = server.api("POST", "/v1/auth/issue-s3-creds")
    assert reply.headers["cache-control"] == "no-store"


def test_with_auth_off_anonymous_credentials_work(client: TestClient) -> None:
    """With authentication off the anonymous caller gets credentials, and they sign."""
    creds = client.post("/v1/auth/issue-s3-creds").json()
    url = "http://testserver/s3/opentaco/open/app/terraform.tfstate"
    request = AWSRequest(method="PUT", url=url, data=state())
    S3SigV4Auth(
        Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]),
        "s3",
        "auto",
    ).add_auth(request)
    headers = {k: v for k, v in request.prepare().headers.items() if k != "Content-Length"}
    reply = client.put("/s3/opentaco/open/app/terraform.tfstate", headers=headers, content=state())
    assert reply.status_code == 200, reply.text
    assert client.get("/v1/backend/open/app").content == state()
    unsigned = client.get("/s3/opentaco/open/app/terraform.tfstate")
    assert unsigned.status_code == 403


async def test_a_client_leaving_mid_upload_stores_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A signed upload whose client hangs up halfway gets no answer, stores nothing and
    logs no error."""
    settings = Settings(storage="memory", auth_disable=True)
    async with open_adapters(settings) as adapters, open_services(settings, adapters) as services:
        creds = await services.s3_credentials.issue(ANONYMOUS)
        path = "/s3/opentaco/halfway/app/terraform.tfstate"
        request = AWSRequest(
            method="PUT", url="http://testserver" + path, headers={"Content-Length": "1000"}
        )
        signer = FixedPayloadSigner(
            Credentials(creds.access_key_id, creds.secret_access_key, creds.session_token),
            "s3",
            "us-east-1",
        )
        signer.fixed_payload = "UNSIGNED-PAYLOAD"
        signer.add_auth(request)
        headers = [("host", "testserver"), *request.prepare().headers.items()]
        scope = {
            "type": "http",
            "method": "PUT",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
            "client": ("127.0.0.1", 50000),
            "state": {STATE_KEY: services},
        }
        messages: list[dict[str, object]] = [
            {"type": "http.request", "body": b'{"version": 4', "more_body": True},
            {"type": "http.disconnect"},
        ]
        sent: list[object] = []

        async def receive() -> dict[str, object]:
            return messages.pop(0)

        async def send(message: object) -> None:
            sent.append(message)

        await S3Endpoint()(scope, receive, send)
        assert sent == []
        assert await services.states.store.list_units() == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_state_put_through_s3_updates_the_dependency_graph(server: S3Server, s3: Any) -> None:
    """A PutObject is a write like any other: the unit consuming one of the
    state's outputs turns red when that output changes."""
    key = "graph/net/terraform.tfstate"
    s3.put_object(Bucket="opentaco", Key=key, Body=state(1, greeting="one"))
    consumer = server.api("POST", "/v1/backend/graph/app", content=state(1, lineage="app"))
    assert consumer.status_code == 200, consumer.text
    edges = graph_state(edge_resource("e0", "graph/net", "greeting", "graph/app"))
    declared = server.api("POST", "/v1/backend/__opentaco_system", content=encode(edges))
    assert declared.status_code == 200, declared.text
    assert server.api("GET", "/v1/units/graph/app/status").json()["status"] == "green"
    s3.put_object(Bucket="opentaco", Key=key, Body=state(2, greeting="two"))
    red = server.api("GET", "/v1/units/graph/app/status").json()
    assert (red["status"], red["offender"]) == ("red", "graph/net")
