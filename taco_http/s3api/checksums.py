"""S3's integrity checksums: ``Content-MD5`` and the ``x-amz-checksum-*`` family.

A client may send one checksum of the object with an upload, as a header
(``x-amz-checksum-sha256: <base64>``, Terraform's way) or as an
``aws-chunked`` trailer (boto3's way over HTTPS), optionally naming the
algorithm in ``x-amz-sdk-checksum-algorithm``; S3 refuses the upload when the
body does not match. On GET and HEAD a client that sends
``x-amz-checksum-mode: ENABLED`` gets the object's checksum back and checks
the body against it (aws-sdk-go-v2 does, for Terraform's state reads).

Values are base64 of the big-endian digest, CRCs included. Hashing a large
body with the pure-Python CRCs takes seconds, so ``compute`` moves work over
``OFF_LOOP_BYTES`` to a worker thread.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import zlib
from collections.abc import Callable

import anyio.to_thread
import attrs

from taco_http.s3api.crc import crc32c, crc64nvme
from taco_http.s3api.errors import BadDigest, InvalidDigest, InvalidRequest, NotImplementedS3
from taco_http.s3api.request import S3Request

OFF_LOOP_BYTES = 1 << 20

CHECKSUM_PREFIX = "x-amz-checksum-"
# x-amz-checksum-* headers that are not checksums of the body.
_NOT_CHECKSUMS = frozenset(
    {"x-amz-checksum-type", "x-amz-checksum-mode", "x-amz-checksum-algorithm"}
)


class ChecksumAlgorithm(enum.Enum):
    """The flexible checksums S3 accepts on a whole object."""

    CRC32 = "crc32"
    CRC32C = "crc32c"
    CRC64NVME = "crc64nvme"
    SHA1 = "sha1"
    SHA256 = "sha256"

    @property
    def header(self) -> str:
        """The header (or trailer) that carries this checksum."""
        return CHECKSUM_PREFIX + self.value

    @property
    def label(self) -> str:
        """The name in ``x-amz-sdk-checksum-algorithm`` and in messages: ``CRC32``."""
        return self.value.upper()

    @property
    def digest_size(self) -> int:
        return _DIGEST_SIZES[self]

    def digest(self, data: bytes | bytearray | memoryview) -> bytes:
        """The raw digest of ``data``."""
        if self is ChecksumAlgorithm.SHA256:
            return hashlib.sha256(data).digest()
        if self is ChecksumAlgorithm.SHA1:
            return hashlib.sha1(data).digest()
        crc = _CRCS[self]
        return crc(data).to_bytes(self.digest_size, "big")

    def b64digest(self, data: bytes | bytearray | memoryview) -> str:
        """The digest of ``data`` as S3 writes it: base64."""
        return base64.b64encode(self.digest(data)).decode()

    @classmethod
    def from_header(cls, name: str) -> ChecksumAlgorithm:
        """The algorithm named by a checksum header; an unknown one is ``NotImplemented``."""
        suffix = name.lower().removeprefix(CHECKSUM_PREFIX)
        try:
            return cls(suffix)
        except ValueError:
            raise NotImplementedS3(
                f"The checksum algorithm of {name} is not implemented."
            ) from None

    @classmethod
    def from_label(cls, label: str) -> ChecksumAlgorithm:
        """The algorithm named in ``x-amz-sdk-checksum-algorithm``."""
        try:
            return cls(label.lower())
        except ValueError:
            raise InvalidRequest(
                "Value for x-amz-sdk-checksum-algorithm header is invalid."
            ) from None


def _crc32(data: bytes | bytearray | memoryview) -> int:
    return zlib.crc32(data)


_CRCS: dict[ChecksumAlgorithm, Callable[[bytes | bytearray | memoryview], int]] = {
    ChecksumAlgorithm.CRC32: _crc32,
    ChecksumAlgorithm.CRC32C: crc32c,
    ChecksumAlgorithm.CRC64NVME: crc64nvme,
}
_DIGEST_SIZES = {
    ChecksumAlgorithm.CRC32: 4,
    ChecksumAlgorithm.CRC32C: 4,
    ChecksumAlgorithm.CRC64NVME: 8,
    ChecksumAlgorithm.SHA1: 20,
    ChecksumAlgorithm.SHA256: 32,
}


@attrs.frozen
class Checksum:
    """One claimed or computed checksum of an object (``value`` is base64)."""

    algorithm: ChecksumAlgorithm
    value: str

    @classmethod
    def parse(cls, name: str, value: str) -> Checksum:
        """A checksum from header or trailer ``name: value``, refused unless well-formed."""
        algorithm = ChecksumAlgorithm.from_header(name)
        value = value.strip()
        if _b64_digest(value, algorithm.digest_size) is None:
            raise InvalidRequest(f"Value for {algorithm.header} header is invalid.")
        return cls(algorithm, value)

    def verify(self, computed: str) -> None:
        """Raise ``BadDigest`` unless ``computed`` (base64) is this checksum."""
        if computed != self.value:
            raise BadDigest(
                f"The {self.algorithm.label} you specified did not match the calculated checksum."
            )


def _b64_digest(value: str, size: int) -> bytes | None:
    """The digest ``value`` encodes, if it is canonical base64 of exactly ``size`` bytes."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != size or base64.b64encode(raw).decode() != value:
        return None
    return raw


@attrs.frozen
class DeclaredIntegrity:
    """What the request's headers say the body must hash to."""

    content_md5: bytes | None
    checksum: Checksum | None  # from an x-amz-checksum-* header
    trailer: ChecksumAlgorithm | None  # announced by x-amz-trailer
    sdk_algorithm: ChecksumAlgorithm | None  # x-amz-sdk-checksum-algorithm

    @property
    def algorithm(self) -> ChecksumAlgorithm | None:
        """The flexible checksum to compute over the body, if any."""
        if self.checksum is not None:
            return self.checksum.algorithm
        return self.trailer


def declared_integrity(request: S3Request) -> DeclaredIntegrity:
    """Parse and cross-check ``Content-MD5``, ``x-amz-checksum-*``, ``x-amz-trailer``.

    At most one checksum, as a header or announced as a trailer, and agreeing
    with ``x-amz-sdk-checksum-algorithm`` when that is sent, as S3 requires.
    """
    md5_text = request.header("content-md5")
    content_md5 = None
    if md5_text is not None:
        content_md5 = _b64_digest(md5_text.strip(), 16)
        if content_md5 is None:
            raise InvalidDigest()
    checksums = [
        Checksum.parse(name, value)
        for name, value in request.headers
        if name.startswith(CHECKSUM_PREFIX) and name not in _NOT_CHECKSUMS
    ]
    if len(checksums) > 1:
        raise InvalidRequest(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        )
    trailer = _announced_trailer(request.header("x-amz-trailer"))
    if checksums and trailer is not None:
        raise InvalidRequest("Expecting a single x-amz-checksum- header or trailer, not both.")
    label = request.header("x-amz-sdk-checksum-algorithm")
    sdk_algorithm = ChecksumAlgorithm.from_label(label) if label is not None else None
    declared = DeclaredIntegrity(
        content_md5=content_md5,
        checksum=checksums[0] if checksums else None,
        trailer=trailer,
        sdk_algorithm=sdk_algorithm,
    )
    if sdk_algorithm is not None:
        if declared.algorithm is None:
            raise InvalidRequest(
                "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* "
                "or x-amz-trailer headers were found."
            )
        if declared.algorithm is not sdk_algorithm:
            raise InvalidRequest(
                f"Value for x-amz-sdk-checksum-algorithm header is invalid: it names "
                f"{sdk_algorithm.label} but the checksum sent is {declared.algorithm.label}."
            )
    return declared


def _announced_trailer(value: str | None) -> ChecksumAlgorithm | None:
    if value is None:
        return None
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    if len(names) != 1 or not names[0].startswith(CHECKSUM_PREFIX):
        raise InvalidRequest(
            f"x-amz-trailer must name exactly one x-amz-checksum-* trailer, not {value!r}."
        )
    return ChecksumAlgorithm.from_header(names[0])


async def compute(algorithm: ChecksumAlgorithm, data: bytes | bytearray) -> str:
    """``algorithm.b64digest(data)``, in a worker thread when ``data`` is large."""
    if len(data) <= OFF_LOOP_BYTES:
        return algorithm.b64digest(data)
    return await anyio.to_thread.run_sync(algorithm.b64digest, data)


async def verify_integrity(
    declared: DeclaredIntegrity, data: bytes | bytearray, trailer: Checksum | None = None
) -> Checksum | None:
    """Check ``data`` against every declared digest; the flexible checksum that held, if any.

    ``trailer`` is the checksum that arrived in the ``aws-chunked`` trailer.
    Raises ``BadDigest`` on any mismatch.
    """
    md5 = declared.content_md5
    if md5 is not None and hashlib.md5(data, usedforsecurity=False).digest() != md5:
        raise BadDigest()
    claimed = declared.checksum if declared.checksum is not None else trailer
    if claimed is None:
        return None
    claimed.verify(await compute(claimed.algorithm, data))
    return claimed


def checksum_mode_enabled(request: S3Request) -> bool:
    """The client asked for the object's checksum (``x-amz-checksum-mode: ENABLED``)."""
    mode = request.header("x-amz-checksum-mode")
    return mode is not None and mode.strip().upper() == "ENABLED"


async def response_checksum_headers(
    data: bytes | bytearray, algorithm: ChecksumAlgorithm = ChecksumAlgorithm.SHA256
) -> dict[str, str]:
    """Headers that return the checksum of a whole object on GET or HEAD.

    Only for a response that carries (or, for HEAD, describes) the whole
    object: a client checks the body it receives against this value, so a
    partial ``Range`` answer must not carry it.
    """
    return {
        algorithm.header: await compute(algorithm, data),
        "x-amz-checksum-type": "FULL_OBJECT",
    }
