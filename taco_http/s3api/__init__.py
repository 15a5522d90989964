"""The protocol of the S3-compatible surface: SigV4, payload modes, checksums, errors.

Routes parse a request into an ``S3Request`` (``S3Request.from_scope``), verify
it with a ``SigV4Verifier`` over a ``CredentialResolver``, read an upload with
``read_payload``, and answer failures with ``render_error``. Nothing here knows
about units, locks or storage.
"""

from taco_http.s3api.checksums import (
    Checksum,
    ChecksumAlgorithm,
    checksum_mode_enabled,
    response_checksum_headers,
)
from taco_http.s3api.chunked import AwsChunkedDecoder
from taco_http.s3api.errors import S3Error, render_error
from taco_http.s3api.payload import ReceivedBody, read_payload
from taco_http.s3api.request import S3Request
from taco_http.s3api.sigv4 import (
    CredentialResolver,
    PayloadMode,
    SigningContext,
    SigningCredential,
    SigV4Verifier,
    VerifiedRequest,
)

__all__ = [
    "AwsChunkedDecoder",
    "Checksum",
    "ChecksumAlgorithm",
    "CredentialResolver",
    "PayloadMode",
    "ReceivedBody",
    "S3Error",
    "S3Request",
    "SigV4Verifier",
    "SigningContext",
    "SigningCredential",
    "VerifiedRequest",
    "checksum_mode_enabled",
    "read_payload",
    "render_error",
    "response_checksum_headers",
]
