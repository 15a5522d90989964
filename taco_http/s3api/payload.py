"""Reading an S3 request body in whichever payload mode it was signed with.

The signature covers the body only through ``x-amz-content-sha256``, so the
body must be checked against what that header promised before anything is
stored: its SHA-256 when it is a digest; chunk and trailer signatures when it
is ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER)``; nothing more for
``UNSIGNED-PAYLOAD`` and ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` (those rely on
TLS and the checksum). In every mode the ``Content-MD5`` and the
``x-amz-checksum-*`` header or trailer must match too.

The body is read from an async byte stream (Starlette's ``request.stream()``)
under a hard cap on the object's size, checked against the declared lengths
before reading and again while reading. Every failure is an ``S3Error``; the
bytes are returned only when every check has passed.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable
from typing import TypeVar

import anyio.to_thread
import attrs

from taco_http.s3api.checksums import (
    Checksum,
    DeclaredIntegrity,
    declared_integrity,
    verify_integrity,
)
from taco_http.s3api.chunked import AwsChunkedDecoder
from taco_http.s3api.errors import (
    EntityTooLarge,
    IncompleteBody,
    InvalidRequest,
    MissingContentLength,
    XAmzContentSHA256Mismatch,
)
from taco_http.s3api.request import S3Request
from taco_http.s3api.sigv4 import PayloadMode, VerifiedRequest

P = TypeVar("P")

_OFF_LOOP_BYTES = 1 << 20


@attrs.frozen
class ReceivedBody:
    """An upload's object bytes, every declared digest verified."""

    data: bytes
    checksum: Checksum | None  # the x-amz-checksum-* that was sent and held, if any


async def read_payload(
    verified: VerifiedRequest[P],
    request: S3Request,
    stream: AsyncIterable[bytes],
    *,
    limit: int,
) -> ReceivedBody:
    """The object carried by ``request``'s body, or an ``S3Error``.

    ``limit`` caps the object's size (``EntityTooLarge``); framing of
    ``aws-chunked`` bodies is bounded separately by the decoder.
    """
    declared = declared_integrity(request)
    mode = verified.payload
    if mode.trailer != (declared.trailer is not None):
        raise InvalidRequest(
            f"x-amz-trailer must be sent with {mode.value}"
            if mode.trailer
            else f"x-amz-trailer cannot be used with x-amz-content-sha256 {mode.value}"
        )
    if mode.aws_chunked:
        data, trailer = await _read_chunked(verified, request, declared, stream, limit)
    else:
        data, trailer = await _read_plain(verified, request, stream, limit), None
    checksum = await verify_integrity(declared, data, trailer)
    return ReceivedBody(data=data, checksum=checksum)


def _declared_length(request: S3Request, header: str, limit: int) -> int | None:
    text = request.header(header)
    if text is None:
        return None
    if not text.isdigit() or not text.isascii():
        raise InvalidRequest(f"{header} must be a number of bytes, not {text!r}.")
    length = int(text)
    if length > limit:
        raise EntityTooLarge(MaxSizeAllowed=str(limit), ProposedSize=str(length))
    return length


async def _read_plain(
    verified: VerifiedRequest[P], request: S3Request, stream: AsyncIterable[bytes], limit: int
) -> bytes:
    length = _declared_length(request, "content-length", limit)
    chunks: list[bytes] = []
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise EntityTooLarge(MaxSizeAllowed=str(limit))
        if length is not None and total > length:
            raise InvalidRequest("The request body is longer than its Content-Length.")
        chunks.append(chunk)
    if length is not None and total != length:
        raise IncompleteBody()
    data = b"".join(chunks)
    if verified.payload is PayloadMode.SHA256:
        computed = await _sha256_hex(data)
        if computed != verified.content_sha256:
            raise XAmzContentSHA256Mismatch(
                ClientComputedContentSHA256=verified.content_sha256 or "",
                S3ComputedContentSHA256=computed,
            )
    return data


async def _read_chunked(
    verified: VerifiedRequest[P],
    request: S3Request,
    declared: DeclaredIntegrity,
    stream: AsyncIterable[bytes],
    limit: int,
) -> tuple[bytes, Checksum | None]:
    decoded_length = _declared_length(request, "x-amz-decoded-content-length", limit)
    if decoded_length is None:
        raise MissingContentLength(
            f"x-amz-decoded-content-length is required with {verified.payload.value}."
        )
    trailer_names = frozenset({declared.trailer.header}) if declared.trailer else frozenset()
    decoder = AwsChunkedDecoder(
        verified.payload,
        decoded_length,
        signing=verified.signing if verified.payload.signed_chunks else None,
        trailer_names=trailer_names,
    )
    body = bytearray()
    async for piece in stream:
        for data in decoder.feed(piece):
            body += data
    trailers = decoder.finish()
    trailer = None
    if declared.trailer is not None:
        name = declared.trailer.header
        trailer = Checksum.parse(name, trailers[name])
    return bytes(body), trailer


async def _sha256_hex(data: bytes) -> str:
    if len(data) <= _OFF_LOOP_BYTES:
        return hashlib.sha256(data).hexdigest()
    return await anyio.to_thread.run_sync(lambda: hashlib.sha256(data).hexdigest())
