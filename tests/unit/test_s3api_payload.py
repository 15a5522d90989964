"""Reading S3 request bodies in every payload mode, aws-chunked framing included."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum, Sha1Checksum, Sha256Checksum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taco_adapters.clock import ManualClock
from taco_http.s3api import (
    AwsChunkedDecoder,
    ChecksumAlgorithm,
    PayloadMode,
    S3Request,
    SigningCredential,
    SigV4Verifier,
    VerifiedRequest,
    read_payload,
)
from taco_http.s3api.errors import (
    BadDigest,
    EntityTooLarge,
    IncompleteBody,
    InvalidRequest,
    MissingContentLength,
    S3Error,
    SignatureDoesNotMatch,
    XAmzContentSHA256Mismatch,
)
from tests.unit.s3signing import (
    signature_of,
    signed,
    signed_chunks,
    timestamp_of,
    unsigned_chunks,
    verifier,
    without_header,
)

# AWS's published chunked-upload example ("Signature Calculations for the
# Authorization Header: Transferring Payload in Multiple Chunks").
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
AWS_CHUNK_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
# The trailer signature AWS's CRT tests publish for trailers first/second/third
# after that example's last chunk.
AWS_TRAILER_SIGNATURE = "df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c"
AWS_TIMESTAMP = "20130524T000000Z"
ZEROS = b"0" * 64
CRC32_ZERO = b"x-amz-checksum-crc32:AAAAAA=="


def aws_example_body() -> bytes:
    return (
        b"10000;chunk-signature=%s\r\n%s\r\n" % (AWS_CHUNK_SIGNATURES[0].encode(), b"a" * 65536)
        + b"400;chunk-signature=%s\r\n%s\r\n" % (AWS_CHUNK_SIGNATURES[1].encode(), b"a" * 1024)
        + b"0;chunk-signature=%s\r\n\r\n" % AWS_CHUNK_SIGNATURES[2].encode()
    )


def aws_example_request() -> S3Request:
    return S3Request(
        "PUT",
        "/examplebucket/chunkObject.txt",
        "",
        [
            ("Host", "s3.amazonaws.com"),
            ("x-amz-date", AWS_TIMESTAMP),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("Content-Length", "66824"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                "aws4_request,SignedHeaders=content-encoding;content-length;host;"
                "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
                f"x-amz-storage-class,Signature={AWS_SEED}",
            ),
        ],
    )


class _ExampleCredentials:
    async def __call__(self, access_key_id: str, session_token: str | None):
        return SigningCredential(AWS_SECRET, "example")


async def verify_aws_example() -> VerifiedRequest[str]:
    checker = SigV4Verifier(_ExampleCredentials(), ManualClock(datetime(2013, 5, 24, tzinfo=UTC)))
    return await checker.verify(aws_example_request())


async def pieces(data: bytes, sizes: Sequence[int] = ()) -> AsyncIterator[bytes]:
    """``data`` as a request stream, cut at ``sizes`` (then in one piece)."""
    position = 0
    for size in sizes:
        yield data[position : position + size]
        position += size
    yield data[position:]


def cut(data: bytes, sizes: Sequence[int]) -> list[bytes]:
    out, position = [], 0
    for size in sizes:
        out.append(data[position : position + size])
        position += size
    return [*out, data[position:]]


# AWS's published vectors


async def test_aws_published_chunked_upload_verifies_and_decodes() -> None:
    """AWS's signed chunked PUT example verifies, every chunk signature included."""
    verified = await verify_aws_example()
    assert verified.payload is PayloadMode.STREAMING_SIGNED
    body = await read_payload(
        verified, aws_example_request(), pieces(aws_example_body(), [7, 90, 65000]), limit=1 << 20
    )
    assert body.data == b"a" * 66560


def test_independent_chunk_signer_reproduces_aws_example() -> None:
    """The tests' own chunk signer produces AWS's published body byte for byte."""
    body = signed_chunks(
        [b"a" * 65536, b"a" * 1024], seed=AWS_SEED, timestamp=AWS_TIMESTAMP, secret=AWS_SECRET
    )
    assert body == aws_example_body()


def test_independent_trailer_signer_reproduces_aws_vector() -> None:
    """The tests' trailer signer gives AWS's published trailer signature."""
    body = signed_chunks(
        [b"a" * 65536, b"a" * 1024],
        seed=AWS_SEED,
        timestamp=AWS_TIMESTAMP,
        secret=AWS_SECRET,
        trailer=[("first", "1st"), ("second", "2nd"), ("third", "3rd")],
    )
    assert body.endswith(b"x-amz-trailer-signature:%s\r\n\r\n" % AWS_TRAILER_SIGNATURE.encode())


async def test_signed_trailer_of_aws_vector_verifies() -> None:
    """The decoder accepts AWS's published trailer signature and rejects any other."""
    verified = await verify_aws_example()
    body = signed_chunks(
        [b"a" * 65536, b"a" * 1024],
        seed=AWS_SEED,
        timestamp=AWS_TIMESTAMP,
        secret=AWS_SECRET,
        trailer=[("first", "1st"), ("second", "2nd"), ("third", "3rd")],
    )
    names = frozenset({"first", "second", "third"})

    def decoder() -> AwsChunkedDecoder:
        return AwsChunkedDecoder(
            PayloadMode.STREAMING_SIGNED_TRAILER,
            66560,
            signing=verified.signing,
            trailer_names=names,
        )

    good = decoder()
    assert b"".join(good.feed(body)) == b"a" * 66560
    assert good.finish() == {"first": "1st", "second": "2nd", "third": "3rd"}
    with pytest.raises(SignatureDoesNotMatch):
        decoder().feed(body.replace(b"second:2nd", b"second:2nD"))


# Tampering with signed chunked uploads


@pytest.mark.parametrize(
    ("tamper", "error"),
    [
        (lambda b: b.replace(b"a" * 10, b"a" * 9 + b"b", 1), SignatureDoesNotMatch),
        (lambda b: b.replace(AWS_CHUNK_SIGNATURES[1].encode(), b"0" * 64), SignatureDoesNotMatch),
        (lambda b: b.replace(AWS_CHUNK_SIGNATURES[2].encode(), b"1" * 64), SignatureDoesNotMatch),
        (lambda b: b[: b.index(b"400;")] + b[b.index(b"0;chunk"):], SignatureDoesNotMatch),
        (lambda b: b[:-2], IncompleteBody),
        (lambda b: b[: b.index(b"0;chunk")], IncompleteBody),
        (lambda b: b + b"0\r\n\r\n", InvalidRequest),
        (lambda b: b.replace(b"10000;", b"10001;", 1), S3Error),
        (lambda b: b.replace(b";chunk-signature=", b";chunk-signature:", 1), InvalidRequest),
        (lambda b: b.replace(b"\r\n400;", b"\n400;", 1), InvalidRequest),
    ],
    ids=["data", "chunk-signature", "last-signature", "dropped-chunk", "truncated",
         "no-last-chunk", "extra-data", "wrong-size", "bad-extension", "bare-lf"],
)  # fmt: skip
async def test_tampered_signed_chunks_are_refused(tamper, error) -> None:
    """Altered data or signatures, dropped, truncated or extended framing are all refused."""
    verified = await verify_aws_example()
    with pytest.raises(error):
        await read_payload(
            verified, aws_example_request(), pieces(tamper(aws_example_body())), limit=1 << 20
        )


async def test_reordered_chunks_are_refused() -> None:
    """Swapping two equally sized chunks keeps the framing but breaks the chain."""
    request = signed("PUT", payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                     headers=[("x-amz-decoded-content-length", "16")])  # fmt: skip
    verified = await verifier().verify(request)
    body = signed_chunks(
        [b"A" * 8, b"B" * 8], seed=signature_of(request), timestamp=timestamp_of(request)
    )
    first, second = body.index(b"8;"), body.index(b"8;", 10)
    last = body.index(b"0;")
    swapped = body[second:last] + body[first:second] + body[last:]
    assert len(swapped) == len(body)
    with pytest.raises(SignatureDoesNotMatch):
        await read_payload(verified, request, pieces(swapped), limit=1024)


async def test_chunks_signed_for_another_request_are_refused() -> None:
    """A chunk stream chained from another request's seed signature is refused."""
    request = signed("PUT", payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                     headers=[("x-amz-decoded-content-length", "4")])  # fmt: skip
    verified = await verifier().verify(request)
    body = signed_chunks([b"data"], seed="0" * 64, timestamp=timestamp_of(request))
    with pytest.raises(SignatureDoesNotMatch):
        await read_payload(verified, request, pieces(body), limit=1024)


async def test_decoded_length_must_match() -> None:
    """x-amz-decoded-content-length that disagrees with the chunks is refused."""
    request = signed("PUT", payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                     headers=[("x-amz-decoded-content-length", "5")])  # fmt: skip
    verified = await verifier().verify(request)
    body = signed_chunks([b"data"], seed=signature_of(request), timestamp=timestamp_of(request))
    with pytest.raises(IncompleteBody):
        await read_payload(verified, request, pieces(body), limit=1024)


async def test_streaming_without_decoded_length_is_refused() -> None:
    """Streaming uploads must declare x-amz-decoded-content-length (411)."""
    request = signed("PUT", payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                     headers=[("x-amz-trailer", "x-amz-checksum-crc32")])  # fmt: skip
    verified = await verifier().verify(request)
    with pytest.raises(MissingContentLength) as caught:
        await read_payload(verified, request, pieces(b"0\r\n\r\n"), limit=1024)
    assert caught.value.status == 411


# Unsigned trailers, as boto3 and aws-sdk-go-v2 send them over HTTPS


async def unsigned_trailer_request(data: bytes, algorithm: ChecksumAlgorithm, **extra: str):
    request = signed(
        "PUT",
        payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        headers=[
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", str(len(data))),
            ("x-amz-trailer", algorithm.header),
            *extra.items(),
        ],
    )
    return request, await verifier().verify(request)


@pytest.mark.parametrize(
    ("checksum_class", "algorithm"),
    [
        (Crc32Checksum, ChecksumAlgorithm.CRC32),
        (Sha1Checksum, ChecksumAlgorithm.SHA1),
        (Sha256Checksum, ChecksumAlgorithm.SHA256),
    ],
)
async def test_botocore_aws_chunked_bodies_decode(checksum_class, algorithm) -> None:
    """Bodies framed by botocore's own AwsChunkedWrapper decode, their trailer checksum checked."""
    data = bytes(range(256)) * 20
    wrapper = AwsChunkedWrapper(
        io.BytesIO(data), checksum_cls=checksum_class, checksum_name=algorithm.header,
        chunk_size=1000,
    )  # fmt: skip
    body = wrapper.read()
    request, verified = await unsigned_trailer_request(data, algorithm)
    received = await read_payload(verified, request, pieces(body, [3, 500, 2]), limit=1 << 20)
    assert received.data == data
    assert received.checksum is not None
    assert received.checksum.algorithm is algorithm


@pytest.mark.parametrize("algorithm", [ChecksumAlgorithm.CRC32C, ChecksumAlgorithm.CRC64NVME])
async def test_crt_only_checksum_trailers_decode(algorithm) -> None:
    """CRC32C and CRC64NVME trailers (what CRT-based SDKs send) are verified too."""
    data = b"a" * 66560
    body = unsigned_chunks(
        [data[:65536], data[65536:]], [(algorithm.header, algorithm.b64digest(data))]
    )
    request, verified = await unsigned_trailer_request(data, algorithm)
    received = await read_payload(verified, request, pieces(body), limit=1 << 20)
    assert received.data == data
    bad = body.replace(algorithm.b64digest(data).encode(), algorithm.b64digest(b"x").encode())
    with pytest.raises(BadDigest):
        await read_payload(verified, request, pieces(bad), limit=1 << 20)


@pytest.mark.parametrize(
    ("tamper", "error"),
    [
        (lambda b: b.replace(b"hello", b"jello"), BadDigest),
        (lambda b: b.replace(b"x-amz-checksum-crc32:", b"x-amz-checksum-sha1:"), InvalidRequest),
        (lambda b: b.replace(b"x-amz-checksum-crc32:", b"x-amz-meta-foo:"), InvalidRequest),
        (lambda b: b[: b.index(b"x-amz-checksum")] + b"\r\n", IncompleteBody),
        (lambda b: b.replace(b"\r\n\r\n", b"\r\n" + CRC32_ZERO + b"\r\n\r\n"), InvalidRequest),
        (lambda b: b.replace(b"5\r\n", b"5;chunk-signature=" + ZEROS + b"\r\n"), InvalidRequest),
        (lambda b: b.replace(b"0\r\n", b"0\r\nx-amz-trailer-signature:" + ZEROS + b"\r\n"),
         InvalidRequest),
    ],
    ids=["data", "other-algorithm", "unannounced", "missing", "twice", "chunk-signature",
         "trailer-signature"],
)  # fmt: skip
async def test_tampered_unsigned_trailers_are_refused(tamper, error) -> None:
    """A wrong or swapped checksum trailer, or signatures where none belong, are refused."""
    data = b"hello"
    body = unsigned_chunks(
        [data], [("x-amz-checksum-crc32", ChecksumAlgorithm.CRC32.b64digest(data))]
    )
    request, verified = await unsigned_trailer_request(data, ChecksumAlgorithm.CRC32)
    assert (await read_payload(verified, request, pieces(body), limit=64)).data == data
    with pytest.raises(error):
        await read_payload(verified, request, pieces(tamper(body)), limit=64)


async def test_trailer_mode_requires_announcement() -> None:
    """A trailer mode without x-amz-trailer, or x-amz-trailer without one, is refused."""
    request = signed("PUT", payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                     headers=[("x-amz-decoded-content-length", "0")])  # fmt: skip
    verified = await verifier().verify(request)
    with pytest.raises(InvalidRequest):
        await read_payload(verified, request, pieces(b"0\r\n\r\n"), limit=64)
    request = signed("PUT", body=b"x", headers=[("x-amz-trailer", "x-amz-checksum-crc32")])
    verified = await verifier().verify(request)
    with pytest.raises(InvalidRequest):
        await read_payload(verified, request, pieces(b"x"), limit=64)


async def test_signed_trailer_mode_round_trip_and_tamper() -> None:
    """Signed chunks with a signed trailer: chunks, checksum and trailer signature all hold."""
    data = b"state" * 3000
    checksum = ChecksumAlgorithm.CRC64NVME.b64digest(data)
    request = signed(
        "PUT",
        payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        headers=[
            ("x-amz-decoded-content-length", str(len(data))),
            ("x-amz-trailer", "x-amz-checksum-crc64nvme"),
        ],
    )
    verified = await verifier().verify(request)
    body = signed_chunks(
        [data[:9000], data[9000:]],
        seed=signature_of(request),
        timestamp=timestamp_of(request),
        trailer=[("x-amz-checksum-crc64nvme", checksum)],
    )
    received = await read_payload(verified, request, pieces(body, [100]), limit=1 << 20)
    assert received.data == data
    forged_value = ChecksumAlgorithm.CRC64NVME.b64digest(b"other")
    with pytest.raises(SignatureDoesNotMatch):
        await read_payload(
            verified,
            request,
            pieces(body.replace(checksum.encode(), forged_value.encode())),
            limit=1 << 20,
        )
    unsigned = body[: body.index(b"x-amz-trailer-signature")] + b"\r\n"
    with pytest.raises(InvalidRequest):
        await read_payload(verified, request, pieces(unsigned), limit=1 << 20)


# Caps


async def test_framing_of_tiny_chunks_is_capped() -> None:
    """A body cut into one-byte chunks cannot make the server do unbounded framing work."""
    data = b"x" * 300_000
    trailer = [("x-amz-checksum-crc32", ChecksumAlgorithm.CRC32.b64digest(data))]
    body = unsigned_chunks([data[i : i + 1] for i in range(len(data))], trailer)
    request, verified = await unsigned_trailer_request(data, ChecksumAlgorithm.CRC32)
    with pytest.raises(InvalidRequest, match="too much framing"):
        await read_payload(verified, request, pieces(body), limit=1 << 20)


async def test_overlong_framing_line_is_refused() -> None:
    """A chunk-size line with no end is refused once it exceeds the line cap."""
    request, verified = await unsigned_trailer_request(b"x", ChecksumAlgorithm.CRC32)
    with pytest.raises(InvalidRequest, match="too long"):
        await read_payload(verified, request, pieces(b"1" * 10_000), limit=64)


async def test_declared_size_over_the_limit_is_refused_before_reading() -> None:
    """Content-Length or decoded length over the limit is EntityTooLarge, nothing read."""
    request = signed("PUT", body=b"x" * 100)
    verified = await verifier().verify(request)

    async def never() -> AsyncIterator[bytes]:
        raise AssertionError("the body must not be read")
        yield b""  # pragma: no cover

    with pytest.raises(EntityTooLarge):
        await read_payload(verified, request, never(), limit=99)
    request, verified = await unsigned_trailer_request(b"x" * 100, ChecksumAlgorithm.CRC32)
    with pytest.raises(EntityTooLarge):
        await read_payload(verified, request, never(), limit=99)


async def test_undeclared_oversized_body_is_refused_while_reading() -> None:
    """Without Content-Length the cap is enforced as bytes arrive."""
    request = without_header(signed("PUT", payload="UNSIGNED-PAYLOAD"), "Content-Length")
    verified = await verifier().verify(request)
    with pytest.raises(EntityTooLarge):
        await read_payload(verified, request, pieces(b"x" * 100, [50]), limit=99)


# Plain bodies


async def test_sha256_payload_is_checked() -> None:
    """A body whose SHA-256 is not the signed x-amz-content-sha256 is refused."""
    request = signed("PUT", body=b"{}")
    verified = await verifier().verify(request)
    assert (await read_payload(verified, request, pieces(b"{}"), limit=64)).data == b"{}"
    with pytest.raises(XAmzContentSHA256Mismatch) as caught:
        await read_payload(verified, request, pieces(b"[]"), limit=64)
    assert (
        dict(caught.value.details)["S3ComputedContentSHA256"] == hashlib.sha256(b"[]").hexdigest()
    )


async def test_content_length_mismatch_is_refused() -> None:
    """A body shorter than Content-Length is IncompleteBody; longer, InvalidRequest."""
    request = signed("PUT", body=b"{}")
    verified = await verifier().verify(request)
    with pytest.raises(IncompleteBody):
        await read_payload(verified, request, pieces(b"{"), limit=64)
    with pytest.raises(InvalidRequest):
        await read_payload(verified, request, pieces(b"{}}"), limit=64)


async def test_content_md5_is_checked() -> None:
    """Content-MD5 (Terraform 1.0.3 sends it) must match the body."""
    md5 = base64.b64encode(hashlib.md5(b"{}").digest()).decode()
    request = signed("PUT", body=b"{}", headers=[("Content-MD5", md5)], payload="UNSIGNED-PAYLOAD")
    verified = await verifier().verify(request)
    await read_payload(verified, request, pieces(b"{}"), limit=64)
    with pytest.raises(BadDigest):
        await read_payload(verified, request, pieces(b"[]"), limit=64)


async def test_checksum_header_is_checked_even_when_unsigned() -> None:
    """x-amz-checksum-* on an UNSIGNED-PAYLOAD body must match it."""
    value = ChecksumAlgorithm.SHA256.b64digest(b"{}")
    headers = [("x-amz-checksum-sha256", value), ("x-amz-sdk-checksum-algorithm", "SHA256")]
    request = signed("PUT", body=b"{}", payload="UNSIGNED-PAYLOAD", headers=headers)
    verified = await verifier().verify(request)
    received = await read_payload(verified, request, pieces(b"{}"), limit=64)
    assert received.checksum is not None
    assert received.checksum.value == value
    with pytest.raises(BadDigest):
        await read_payload(verified, request, pieces(b"[]"), limit=64)


# Properties

_bodies = st.binary(max_size=3000)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), body=_bodies, signed_mode=st.booleans())
async def test_any_chunking_decodes_to_the_body(data, body, signed_mode) -> None:
    """However the object is chunked and the stream is cut, the decoded bytes are the object."""
    sizes = data.draw(st.lists(st.integers(1, 700), max_size=8))
    chunks = [c for c in cut(body, sizes) if c]
    checksum = ChecksumAlgorithm.CRC32.b64digest(body)
    if signed_mode:
        request = signed("PUT", payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                         headers=[("x-amz-decoded-content-length", str(len(body))),
                                  ("x-amz-checksum-crc32", checksum)])  # fmt: skip
        encoded = signed_chunks(chunks, seed=signature_of(request), timestamp=timestamp_of(request))
        verified = await verifier().verify(request)
    else:
        encoded = unsigned_chunks(chunks, [("x-amz-checksum-crc32", checksum)])
        request, verified = await unsigned_trailer_request(body, ChecksumAlgorithm.CRC32)
    splits = data.draw(st.lists(st.integers(0, 200), max_size=10))
    received = await read_payload(verified, request, pieces(encoded, splits), limit=1 << 20)
    assert received.data == body


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), body=st.binary(min_size=1, max_size=600), signed_mode=st.booleans())
async def test_any_byte_flip_is_refused_or_harmless(data, body, signed_mode) -> None:
    """Flipping any byte of an aws-chunked body is refused with an S3Error or changes nothing."""
    checksum = ChecksumAlgorithm.CRC32.b64digest(body)
    chunks = [c for c in cut(body, data.draw(st.lists(st.integers(1, 300), max_size=3))) if c]
    if signed_mode:
        request = signed("PUT", payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                         headers=[("x-amz-decoded-content-length", str(len(body))),
                                  ("x-amz-trailer", "x-amz-checksum-crc32")])  # fmt: skip
        encoded = signed_chunks(chunks, seed=signature_of(request), timestamp=timestamp_of(request),
                                trailer=[("x-amz-checksum-crc32", checksum)])  # fmt: skip
        verified = await verifier().verify(request)
    else:
        encoded = unsigned_chunks(chunks, [("x-amz-checksum-crc32", checksum)])
        request, verified = await unsigned_trailer_request(body, ChecksumAlgorithm.CRC32)
    index = data.draw(st.integers(0, len(encoded) - 1))
    flip = data.draw(st.integers(1, 255))
    forged = bytearray(encoded)
    forged[index] ^= flip
    try:
        received = await read_payload(verified, request, pieces(bytes(forged)), limit=1 << 20)
    except S3Error:
        return
    assert received.data == body  # e.g. a hex digit's case changed in a size line
