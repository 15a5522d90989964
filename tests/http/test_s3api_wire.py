"""What boto3/botocore really send, over real HTTP and TLS, verified by the s3api package.

A tiny ASGI app under uvicorn (the server OpenTaco runs on) records each
request exactly as the server sees it (raw path, headers, the body after HTTP
de-chunking) and answers it after ``SigV4Verifier`` and ``read_payload``. boto3
signs differently per transport: over plain HTTP it signs the body's SHA-256
and sends the checksum as a header; over HTTPS it sends
``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` with an ``aws-chunked`` body and a CRC32
trailer. The recorded requests are then replayed with tampering.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import botocore.config
import botocore.session
import httpx
import pytest
import trustme
import uvicorn
from botocore.exceptions import ClientError
from starlette.types import Receive, Scope, Send

from taco_http.s3api import PayloadMode, S3Error, S3Request, read_payload, render_error
from taco_http.s3api.errors import BadDigest, SignatureDoesNotMatch
from tests.servers import free_port
from tests.unit.s3signing import ACCESS_KEY, EXPIRED_KEY, SECRET, TOKEN, verifier


@attrs.define
class Exchange:
    """One request as the server received it, and what the s3api made of it."""

    request: S3Request
    body: bytes
    mode: PayloadMode | None = None
    decoded: bytes | None = None
    error: str | None = None


@attrs.define
class Recorder:
    exchanges: list[Exchange] = attrs.Factory(list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = S3Request.from_scope(scope)
        received = []
        more = True
        while more:
            message = await receive()
            received.append(message.get("body", b""))
            more = message.get("more_body", False)
        exchange = Exchange(request, b"".join(received))
        self.exchanges.append(exchange)

        async def body() -> AsyncIterator[bytes]:
            yield exchange.body

        status, headers, content = 200, [(b"etag", b'"1"')], b""
        try:
            verified = await verifier().verify(request)
            exchange.mode = verified.payload
            if request.method == "PUT":
                exchange.decoded = (
                    await read_payload(verified, request, body(), limit=8 << 20)
                ).data
            elif request.method == "GET":
                content = b"stored"
        except S3Error as error:
            exchange.error = error.code
            status, content = (
                error.status,
                render_error(error, resource=request.raw_path, request_id="t"),
            )
            # botocore does not return a connection to its pool after an error, so
            # close it here: an idle TLS connection would hold up the server's shutdown.
            headers = [(b"content-type", b"application/xml"), (b"connection", b"close")]
        headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


@attrs.frozen
class Endpoint:
    url: str
    recorder: Recorder
    ca: Path
    clients: list[Any] = attrs.field(factory=list)


@pytest.fixture(scope="module")
def ca_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(directory / "server.pem")
    )
    return directory / "ca.pem", directory / "server.pem"


@pytest.fixture(scope="module", params=["http", "https"])
def endpoint(request: pytest.FixtureRequest, ca_files: tuple[Path, Path]) -> Iterator[Endpoint]:
    """A recording S3 endpoint under uvicorn, over plain HTTP or TLS."""
    ca, server_pem = ca_files
    recorder = Recorder()
    port = free_port()
    tls: dict[str, Any] = {"ssl_certfile": str(server_pem), "ssl_keyfile": str(server_pem)}
    config = uvicorn.Config(
        recorder, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none",
        **(tls if request.param == "https" else {}),
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(200):
        if server.started:
            started.set()
            break
        thread.join(0.05)
    assert started.is_set(), "uvicorn did not start"
    endpoint = Endpoint(f"{request.param}://127.0.0.1:{port}/s3", recorder, ca)
    yield endpoint
    for s3 in endpoint.clients:
        s3.close()  # boto3 keeps connections alive; the server waits for them on shutdown
    server.should_exit = True
    thread.join(10)
    assert not thread.is_alive()


def client(endpoint: Endpoint, key: str = ACCESS_KEY, secret: str = SECRET) -> Any:
    s3 = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=TOKEN,
        verify=str(endpoint.ca),
        config=botocore.config.Config(
            signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}
        ),
    )
    endpoint.clients.append(s3)
    return s3


def last(endpoint: Endpoint) -> Exchange:
    return endpoint.recorder.exchanges[-1]


def test_boto3_put_object_verifies_in_the_mode_of_its_transport(endpoint: Endpoint) -> None:
    """boto3 PutObject verifies: SHA-256 payload over HTTP, unsigned chunked trailer over TLS."""
    state = b'{"version": 4, "serial": 1}' * 50
    client(endpoint).put_object(Bucket="tfstate", Key="env:/dev/proj/terraform.tfstate", Body=state)
    exchange = last(endpoint)
    assert exchange.error is None
    assert exchange.decoded == state
    if endpoint.url.startswith("https"):
        assert exchange.mode is PayloadMode.STREAMING_UNSIGNED_TRAILER
        assert exchange.request.header("x-amz-trailer") == "x-amz-checksum-crc32"
        assert exchange.body.endswith(b"\r\n\r\n") and b"x-amz-checksum-crc32:" in exchange.body
    else:
        assert exchange.mode is PayloadMode.SHA256
        assert exchange.request.header("x-amz-checksum-crc32") is not None


def test_boto3_multi_chunk_upload_decodes(endpoint: Endpoint) -> None:
    """A 2.5 MiB body (several 1 MiB aws-chunked chunks over TLS) arrives intact."""
    state = bytes(range(256)) * 10_240
    client(endpoint).put_object(Bucket="tfstate", Key="big/terraform.tfstate", Body=state)
    assert last(endpoint).error is None
    assert last(endpoint).decoded == state


def test_boto3_get_head_list_verify(endpoint: Endpoint) -> None:
    """GetObject with a Range, HeadObject and ListObjectsV2 requests all verify."""
    s3 = client(endpoint)
    assert s3.get_object(Bucket="tfstate", Key="k", Range="bytes=0-5")["Body"].read() == b"stored"
    assert last(endpoint).request.header("range") == "bytes=0-5"
    s3.head_object(Bucket="tfstate", Key="k")
    assert last(endpoint).error is None


def test_presigned_url_verifies_over_the_wire(endpoint: Endpoint) -> None:
    """A boto3 presigned GET fetched by a plain HTTP client verifies."""
    url = client(endpoint).generate_presigned_url(
        "get_object", Params={"Bucket": "tfstate", "Key": "proj/terraform.tfstate"}, ExpiresIn=60
    )
    response = httpx.get(url, verify=ssl.create_default_context(cafile=str(endpoint.ca)))
    assert response.status_code == 200
    assert last(endpoint).error is None


def test_wrong_secret_surfaces_as_s3_error_in_boto3(endpoint: Endpoint) -> None:
    """boto3 parses our XML: a wrong secret is ClientError SignatureDoesNotMatch, 403."""
    with pytest.raises(ClientError) as caught:
        client(endpoint, secret="wrong").put_object(Bucket="tfstate", Key="k", Body=b"{}")
    assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_expired_credentials_surface_as_expired_token(endpoint: Endpoint) -> None:
    """Expired credentials reach boto3 as ExpiredToken."""
    with pytest.raises(ClientError) as caught:
        client(endpoint, key=EXPIRED_KEY).get_object(Bucket="tfstate", Key="k")
    assert caught.value.response["Error"]["Code"] == "ExpiredToken"


async def test_recorded_boto3_upload_with_a_flipped_body_byte_is_refused(
    endpoint: Endpoint,
) -> None:
    """Replaying boto3's real upload with one body byte changed is refused (checksum or hash)."""
    state = b'{"version": 4, "serial": 7}'
    client(endpoint).put_object(Bucket="tfstate", Key="replay/terraform.tfstate", Body=state)
    recorded = last(endpoint)
    verified = await verifier().verify(recorded.request)
    forged = recorded.body.replace(b'"serial": 7', b'"serial": 8')
    assert forged != recorded.body

    async def stream() -> AsyncIterator[bytes]:
        yield forged

    expected = BadDigest if endpoint.url.startswith("https") else S3Error
    with pytest.raises(expected):
        await read_payload(verified, recorded.request, stream(), limit=1 << 20)


async def test_recorded_boto3_upload_cannot_change_its_signed_framing(endpoint: Endpoint) -> None:
    """On replay neither the payload mode (to UNSIGNED-PAYLOAD) nor the decoded length moves."""
    client(endpoint).put_object(Bucket="tfstate", Key="replay2/terraform.tfstate", Body=b"{}")
    recorded = last(endpoint).request
    tamperings = [("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]
    if endpoint.url.startswith("https"):
        tamperings.append(("x-amz-decoded-content-length", "3"))
    for name, value in tamperings:
        assert recorded.header(name) not in (None, value)
        headers = [(k, value if k == name else v) for k, v in recorded.headers]
        forged = S3Request(recorded.method, recorded.raw_path, recorded.raw_query, headers)
        with pytest.raises(SignatureDoesNotMatch):
            await verifier().verify(forged)
