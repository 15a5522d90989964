"""Requests real Terraform sent, replayed through the verifier and the payload reader.

``fixtures/terraform_s3_requests.json`` holds requests that Terraform 1.15.5
(aws-sdk-go-v2, over plain HTTP and over TLS) and Terraform 1.0.3
(aws-sdk-go v1) sent to a logging S3 stub during ``init``, ``apply`` and
``workspace new``, with ``credential_process`` handing out key ``TEMPKEY``,
secret ``TEMPSECRET`` and session token ``TEMPTOKEN``: method, undecoded path
and query, every header as received, and the body after HTTP de-chunking.
Go's signers differ from botocore's (they sign ``accept-encoding`` and the
``amz-sdk-*`` headers, keep the workspace colon raw, or percent-encode it in
1.0.3), so these pin the verifier to what Terraform really does.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from taco_adapters.clock import ManualClock
from taco_http.s3api import (
    PayloadMode,
    S3Error,
    S3Request,
    SigningCredential,
    SigV4Verifier,
    read_payload,
)
from taco_http.s3api.errors import InvalidToken, SignatureDoesNotMatch

FIXTURES = json.loads(
    (Path(__file__).parent / "fixtures" / "terraform_s3_requests.json").read_text()
)


class TerraformCredentials:
    async def __call__(self, access_key_id: str, session_token: str | None):
        if session_token != "TEMPTOKEN":
            raise InvalidToken()
        assert access_key_id == "TEMPKEY"
        return SigningCredential("TEMPSECRET", "terraform")


def request_of(fixture: dict[str, Any]) -> S3Request:
    return S3Request(
        fixture["method"],
        fixture["raw_path"],
        fixture["raw_query"],
        [tuple(pair) for pair in fixture["headers"]],
    )


def checker(request: S3Request) -> SigV4Verifier[str]:
    stamp = request.header("x-amz-date")
    assert stamp is not None
    when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return SigV4Verifier(TerraformCredentials(), ManualClock(when))


async def stream(data: bytes):
    yield data


def ids(fixture: dict[str, Any]) -> str:
    return f"{fixture['client']}: {fixture['operation']}"


@pytest.mark.parametrize("fixture", FIXTURES, ids=ids)
async def test_terraform_request_verifies_and_its_body_reads(fixture: dict[str, Any]) -> None:
    """Each captured Terraform request verifies in its payload mode; an upload's body reads back."""
    request = request_of(fixture)
    verified = await checker(request).verify(request)
    assert verified.payload is PayloadMode(fixture["payload_mode"])
    assert verified.session_token == "TEMPTOKEN"
    if request.method != "PUT":
        return
    body = base64.b64decode(fixture["body_b64"])
    received = await read_payload(verified, request, stream(body), limit=1 << 20)
    assert received.data.startswith(b"{")
    if verified.payload.aws_chunked:
        assert received.data in body
        assert received.checksum is not None
    else:
        assert received.data == body
    if "1.15.5" in fixture["client"]:
        assert received.checksum is not None
        assert received.checksum.algorithm.value == "sha256"


UPLOADS = [f for f in FIXTURES if f["method"] == "PUT"]


@pytest.mark.parametrize("fixture", UPLOADS, ids=ids)
async def test_terraform_upload_with_any_byte_changed_is_refused(fixture: dict[str, Any]) -> None:
    """Changing any single byte of the object Terraform uploaded is refused."""
    request = request_of(fixture)
    verified = await checker(request).verify(request)
    body = base64.b64decode(fixture["body_b64"])
    start = body.index(b"{")
    end = body.rindex(b"}") + 1
    for index in range(start, end, 7):
        forged = bytearray(body)
        forged[index] ^= 0x01
        with pytest.raises(S3Error):
            await read_payload(verified, request, stream(bytes(forged)), limit=1 << 20)


async def test_go_signed_headers_and_raw_colon_are_part_of_the_signature() -> None:
    """Terraform 1.15.5's signature covers accept-encoding and the raw ':' of workspace keys."""
    fixture = next(
        f
        for f in FIXTURES
        if f["client"] == "Terraform 1.15.5 over http" and "env" in f["raw_path"]
    )
    request = request_of(fixture)
    await checker(request).verify(request)
    encoded = S3Request(
        request.method,
        request.raw_path.replace("env:", "env%3A"),
        request.raw_query,
        request.headers,
    )
    with pytest.raises(SignatureDoesNotMatch):
        await checker(request).verify(encoded)
    headers = [(k, "gzip" if k == "accept-encoding" else v) for k, v in request.headers]
    with pytest.raises(SignatureDoesNotMatch):
        await checker(request).verify(
            S3Request(request.method, request.raw_path, request.raw_query, headers)
        )


async def test_terraform_1_0_3_encodes_the_workspace_colon() -> None:
    """Terraform 1.0.3 sends and signs workspace keys as env%3A/..., which verifies as sent."""
    fixture = next(
        f for f in FIXTURES if f["client"].startswith("Terraform 1.0.3") and "env" in f["raw_path"]
    )
    assert fixture["raw_path"].startswith("/s3/tfstate/env%3A/")
    request = request_of(fixture)
    await checker(request).verify(request)
