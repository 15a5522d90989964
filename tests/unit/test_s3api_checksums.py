"""S3 checksums: the CRCs against published vectors, header parsing, response headers."""

from __future__ import annotations

import base64
import hashlib
import zlib

import pytest
from botocore.httpchecksum import Crc32Checksum, Sha1Checksum, Sha256Checksum
from hypothesis import given
from hypothesis import strategies as st

from taco_http.s3api.checksums import (
    Checksum,
    ChecksumAlgorithm,
    checksum_mode_enabled,
    declared_integrity,
    response_checksum_headers,
)
from taco_http.s3api.crc import crc32c, crc64nvme
from taco_http.s3api.errors import BadDigest, InvalidDigest, InvalidRequest, NotImplementedS3
from taco_http.s3api.request import S3Request


def test_crc32c_matches_rfc3720_vectors() -> None:
    """CRC-32C gives the iSCSI test vectors of RFC 3720 (B.4) and the catalogue check value."""
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C


def test_crc64nvme_matches_published_vectors() -> None:
    """CRC-64/NVME gives the catalogue check value and the AWS SDKs' test vector."""
    assert crc64nvme(b"123456789") == 0xAE8B14860A799888
    assert crc64nvme(b"") == 0
    assert ChecksumAlgorithm.CRC64NVME.b64digest(b"Hello world") == "OOJZ0D8xKts="


def test_crc32c_of_the_aws_trailer_example() -> None:
    """The CRC-32C of AWS's 66560-byte example object is the documented sOO8/Q==."""
    assert ChecksumAlgorithm.CRC32C.b64digest(b"a" * 66560) == "sOO8/Q=="


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_crcs_continue_across_pieces(first: bytes, second: bytes) -> None:
    """Feeding a CRC in two pieces gives the CRC of the whole, like zlib.crc32."""
    assert crc32c(second, crc32c(first)) == crc32c(first + second)
    assert crc64nvme(second, crc64nvme(first)) == crc64nvme(first + second)


@given(st.binary(max_size=2000))
def test_stdlib_backed_algorithms_agree_with_botocore(data: bytes) -> None:
    """CRC32, SHA1 and SHA256 values are exactly what botocore sends for the same body."""
    assert ChecksumAlgorithm.CRC32.b64digest(data) == Crc32Checksum().handle(data)
    assert ChecksumAlgorithm.SHA1.b64digest(data) == Sha1Checksum().handle(data)
    assert ChecksumAlgorithm.SHA256.b64digest(data) == Sha256Checksum().handle(data)
    assert ChecksumAlgorithm.CRC32.digest(data) == zlib.crc32(data).to_bytes(4, "big")


def request(*headers: tuple[str, str]) -> S3Request:
    return S3Request("PUT", "/s3/b/k", "", [("Host", "h"), *headers])


def test_no_integrity_headers_declare_nothing() -> None:
    """Without Content-MD5 or checksum headers nothing is declared."""
    declared = declared_integrity(request())
    assert declared.content_md5 is None
    assert declared.checksum is None
    assert declared.algorithm is None


def test_terraform_checksum_headers_are_parsed() -> None:
    """Terraform's x-amz-checksum-sha256 with x-amz-sdk-checksum-algorithm is read."""
    value = base64.b64encode(hashlib.sha256(b"{}").digest()).decode()
    declared = declared_integrity(
        request(("x-amz-checksum-sha256", value), ("x-amz-sdk-checksum-algorithm", "SHA256"))
    )
    assert declared.checksum == Checksum(ChecksumAlgorithm.SHA256, value)


def test_trailer_announcement_is_parsed() -> None:
    """x-amz-trailer announces the checksum algorithm of an aws-chunked trailer."""
    declared = declared_integrity(request(("x-amz-trailer", "x-amz-checksum-crc64nvme")))
    assert declared.trailer is ChecksumAlgorithm.CRC64NVME
    assert declared.algorithm is ChecksumAlgorithm.CRC64NVME


def test_multipart_checksum_algorithm_header_is_not_a_checksum() -> None:
    """x-amz-checksum-algorithm (CreateMultipartUpload) and -mode/-type are not body checksums."""
    declared = declared_integrity(
        request(
            ("x-amz-checksum-algorithm", "SHA256"),
            ("x-amz-checksum-type", "FULL_OBJECT"),
            ("x-amz-checksum-mode", "ENABLED"),
        )
    )
    assert declared.checksum is None


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ([("content-md5", "not base64!")], InvalidDigest),
        ([("content-md5", base64.b64encode(b"short").decode())], InvalidDigest),
        ([("x-amz-checksum-crc32", "AAAAAAAA")], InvalidRequest),
        ([("x-amz-checksum-sha256", "AAAA")], InvalidRequest),
        ([("x-amz-checksum-crc32", "AAAAAA=="), ("x-amz-checksum-sha1", "A" * 27 + "=")],
         InvalidRequest),
        ([("x-amz-checksum-crc32", "AAAAAA=="), ("x-amz-trailer", "x-amz-checksum-crc32")],
         InvalidRequest),
        ([("x-amz-checksum-crc32", "AAAAAA=="), ("x-amz-sdk-checksum-algorithm", "SHA256")],
         InvalidRequest),
        ([("x-amz-sdk-checksum-algorithm", "CRC32")], InvalidRequest),
        ([("x-amz-sdk-checksum-algorithm", "MD4"), ("x-amz-checksum-crc32", "AAAAAA==")],
         InvalidRequest),
        ([("x-amz-trailer", "x-amz-checksum-crc32,x-amz-checksum-sha1")], InvalidRequest),
        ([("x-amz-trailer", "x-amz-meta-foo")], InvalidRequest),
        ([("x-amz-checksum-xxhash64", "AAAAAAAAAAA=")], NotImplementedS3),
    ],
)  # fmt: skip
def test_malformed_integrity_headers_are_refused(headers, error) -> None:
    """Bad digests, two checksums, disagreeing algorithm names, unknown algorithms: refused."""
    with pytest.raises(error):
        declared_integrity(request(*headers))


def test_checksum_verify_names_the_algorithm() -> None:
    """A mismatching checksum is BadDigest naming the algorithm."""
    claimed = Checksum(ChecksumAlgorithm.CRC32C, ChecksumAlgorithm.CRC32C.b64digest(b"a"))
    claimed.verify(ChecksumAlgorithm.CRC32C.b64digest(b"a"))
    with pytest.raises(BadDigest, match="CRC32C"):
        claimed.verify(ChecksumAlgorithm.CRC32C.b64digest(b"b"))


def test_checksum_mode_is_read_case_insensitively() -> None:
    """x-amz-checksum-mode: ENABLED asks for checksums; anything else does not."""
    assert checksum_mode_enabled(request(("x-amz-checksum-mode", "ENABLED")))
    assert checksum_mode_enabled(request(("x-amz-checksum-mode", "enabled")))
    assert not checksum_mode_enabled(request(("x-amz-checksum-mode", "DISABLED")))
    assert not checksum_mode_enabled(request())


@pytest.mark.parametrize("algorithm", list(ChecksumAlgorithm))
async def test_response_checksum_headers_are_whole_object_values(algorithm) -> None:
    """GET/HEAD checksum headers carry the base64 digest and FULL_OBJECT type."""
    data = b'{"version": 4}' * 100
    headers = await response_checksum_headers(data, algorithm)
    assert headers == {
        algorithm.header: algorithm.b64digest(data),
        "x-amz-checksum-type": "FULL_OBJECT",
    }


async def test_large_bodies_are_hashed_off_the_loop_with_the_same_result() -> None:
    """Bodies over the threshold go to a worker thread and give the same value."""
    data = bytes(range(256)) * 5000
    headers = await response_checksum_headers(data, ChecksumAlgorithm.CRC32C)
    assert headers["x-amz-checksum-crc32c"] == ChecksumAlgorithm.CRC32C.b64digest(data)
