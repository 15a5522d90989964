"""Signed S3 requests for the s3api tests, produced by botocore itself.

Every request the verifier is shown is signed by botocore's own signers (or
taken from AWS's published examples), so a passing test means the verifier
agrees with the SDKs, not merely with itself. The only hand-written signer is
``signed_chunks``: botocore cannot send ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``;
it follows AWS's chunk-signing recipe independently of the code under test and
is anchored by AWS's published chunk signatures.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from taco_adapters.clock import ManualClock
from taco_http.s3api import SigningCredential, SigV4Verifier
from taco_http.s3api.errors import ExpiredToken, InvalidAccessKeyId, InvalidToken
from taco_http.s3api.request import S3Request

ACCESS_KEY = "AKIDTACOEXAMPLE"
SECRET = "s3cr3t/Key+With=Symbols"
TOKEN = "session-token-of-alice"
EXPIRED_KEY = "AKIDEXPIRED"
REGION = "us-east-1"
HOST = "127.0.0.1:8443"
BASE = f"https://{HOST}/s3"

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class FakeCredentials:
    """A credential store of one short-lived key bound to alice, plus an expired one."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    async def __call__(
        self, access_key_id: str, session_token: str | None
    ) -> SigningCredential[str]:
        self.calls.append((access_key_id, session_token))
        if access_key_id == EXPIRED_KEY:
            raise ExpiredToken()
        if access_key_id != ACCESS_KEY:
            raise InvalidAccessKeyId()
        if session_token != TOKEN:
            raise InvalidToken()
        return SigningCredential(SECRET, "alice")


def credentials(token: str | None = TOKEN, key: str = ACCESS_KEY) -> Credentials:
    return Credentials(key, SECRET, token)


def verifier(now: datetime | None = None, region: str | None = None) -> SigV4Verifier[str]:
    """A verifier over ``FakeCredentials`` whose clock reads ``now`` (default: the real now)."""
    return SigV4Verifier(FakeCredentials(), ManualClock(now or datetime.now(UTC)), region=region)


def to_s3_request(aws_request: AWSRequest) -> S3Request:
    """What the server would see of a request botocore signed and would send."""
    prepared = aws_request.prepare()
    assert prepared.url is not None
    url = urlsplit(prepared.url)
    headers = [(name, _text(value)) for name, value in prepared.headers.items()]
    if not any(name.lower() == "host" for name, _ in headers):
        headers.append(("Host", url.netloc))
    return S3Request(
        method=aws_request.method or "GET",
        raw_path=url.path,
        raw_query=url.query,
        headers=headers,
    )


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _FixedPayloadSigner(S3SigV4Auth):
    """botocore's S3 signer, told which x-amz-content-sha256 to sign (a streaming mode)."""

    def __init__(self, creds: Credentials, region: str, payload: str, service: str) -> None:
        super().__init__(creds, service, region)
        self._payload = payload

    def payload(self, request: AWSRequest) -> str:
        return self._payload


def signed(
    method: str = "GET",
    path: str = "/s3/tfstate/proj/terraform.tfstate",
    query: str = "",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    creds: Credentials | None = None,
    region: str = REGION,
    service: str = "s3",
    payload: str | None = None,
) -> S3Request:
    """A request signed by botocore's ``S3SigV4Auth`` (header form).

    ``payload`` forces the signed ``x-amz-content-sha256`` (a streaming mode);
    by default botocore hashes ``body`` itself.
    """
    url = f"https://{HOST}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    creds = creds or credentials()
    if payload is None:
        S3SigV4Auth(creds, service, region).add_auth(request)
    else:
        _FixedPayloadSigner(creds, region, payload, service).add_auth(request)
    return to_s3_request(request)


def presigned(
    method: str = "GET",
    path: str = "/s3/tfstate/proj/terraform.tfstate",
    query: str = "",
    *,
    expires: int = 3600,
    creds: Credentials | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> S3Request:
    """A presigned-URL request signed by botocore's ``S3SigV4QueryAuth``."""
    url = f"https://{HOST}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, headers=dict(headers))
    S3SigV4QueryAuth(creds or credentials(), "s3", REGION, expires=expires).add_auth(request)
    return to_s3_request(request)


def replace_header(request: S3Request, name: str, value: str) -> S3Request:
    """``request`` with every ``name`` header replaced by one with ``value``."""
    kept = [(k, v) for k, v in request.headers if k != name.lower()]
    return S3Request(request.method, request.raw_path, request.raw_query, [*kept, (name, value)])


def without_header(request: S3Request, name: str) -> S3Request:
    kept = [(k, v) for k, v in request.headers if k != name.lower()]
    return S3Request(request.method, request.raw_path, request.raw_query, kept)


def with_header(request: S3Request, name: str, value: str) -> S3Request:
    return S3Request(
        request.method, request.raw_path, request.raw_query, [*request.headers, (name, value)]
    )


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def aws_signing_key(secret: str, date: str, region: str = REGION) -> bytes:
    """AWS's documented key derivation, written out independently of the code under test."""
    key = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    return key


def signed_chunks(
    chunks: Iterable[bytes],
    *,
    seed: str,
    timestamp: str,
    secret: str = SECRET,
    region: str = REGION,
    trailer: Sequence[tuple[str, str]] | None = None,
) -> bytes:
    """An ``aws-chunked`` body with chunk signatures chained from ``seed`` (AWS's recipe).

    With ``trailer`` the body ends with those trailing headers and their
    ``x-amz-trailer-signature``.
    """
    key = aws_signing_key(secret, timestamp[:8], region)
    scope = f"{timestamp[:8]}/{region}/s3/aws4_request"
    previous = seed
    out = bytearray()
    for chunk in [*chunks, b""]:
        string_to_sign = "\n".join(
            (
                "AWS4-HMAC-SHA256-PAYLOAD",
                timestamp,
                scope,
                previous,
                EMPTY_SHA256,
                hashlib.sha256(chunk).hexdigest(),
            )
        )
        previous = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        out += b"%x;chunk-signature=%s\r\n" % (len(chunk), previous.encode())
        if chunk:
            out += chunk + b"\r\n"
    if trailer is None:
        return bytes(out + b"\r\n")
    canonical = "".join(f"{name}:{value}\n" for name, value in sorted(trailer))
    string_to_sign = "\n".join(
        (
            "AWS4-HMAC-SHA256-TRAILER",
            timestamp,
            scope,
            previous,
            hashlib.sha256(canonical.encode()).hexdigest(),
        )
    )
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    for name, value in trailer:
        out += f"{name}:{value}\r\n".encode()
    out += f"x-amz-trailer-signature:{signature}\r\n\r\n".encode()
    return bytes(out)


def unsigned_chunks(chunks: Iterable[bytes], trailer: Sequence[tuple[str, str]]) -> bytes:
    """An ``aws-chunked`` body in the unsigned-trailer form boto3 and aws-sdk-go-v2 send."""
    out = bytearray()
    for chunk in chunks:
        if chunk:
            out += b"%x\r\n%s\r\n" % (len(chunk), chunk)
    out += b"0\r\n"
    for name, value in trailer:
        out += f"{name}:{value}\r\n".encode()
    return bytes(out + b"\r\n")


def timestamp_of(request: S3Request) -> str:
    value = request.header("x-amz-date")
    assert value is not None
    return value


def signature_of(request: S3Request) -> str:
    authorization = request.header("authorization")
    assert authorization is not None
    return authorization.rsplit("Signature=", 1)[1]
