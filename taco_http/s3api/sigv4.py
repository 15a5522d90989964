"""AWS Signature Version 4 verification for S3 requests, as strict as S3 itself.

Both forms S3 accepts are verified: the ``Authorization: AWS4-HMAC-SHA256 …``
header and the presigned query (``X-Amz-Algorithm`` … ``X-Amz-Signature``).
The canonical request is rebuilt from what the client says it signed and
nothing else: only the headers named in its ``SignedHeaders``, with the values
it sent (repeats joined, whitespace folded, as botocore does), the path exactly
as sent (S3 neither normalises nor double-encodes it), and the query decoded
and re-encoded the SigV4 way. botocore's ``S3SigV4Auth`` does the
canonicalisation and the string to sign, so the rules are the ones every AWS
SDK is tested against; only the signing key is derived here, because chunked
uploads need it to verify every chunk after the seed signature.

Besides the signature: the clock may be off by at most 15 minutes (a
presigned URL instead lives ``X-Amz-Expires`` seconds, at most 7 days), the
scope must be ``<date>/<region>/s3/aws4_request`` with the request's date (and
the configured region, when one is), every ``x-amz-*`` header the client sent
must be signed, and signatures are compared in constant time. The secret comes
from a ``CredentialResolver``, which also checks the session token and says
which principal the key belongs to; the verified request carries that
principal, so the routes authorise what the key's owner may do.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Generic, Protocol, TypeVar
from urllib.parse import unquote_plus

import attrs
from botocore.auth import EMPTY_SHA256_HASH, S3SigV4Auth  # type: ignore[import-untyped, unused-ignore]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped, unused-ignore]
from botocore.compat import HTTPHeaders  # type: ignore[import-untyped, unused-ignore]
from botocore.credentials import Credentials  # type: ignore[import-untyped, unused-ignore]
from botocore.utils import percent_encode  # type: ignore[import-untyped, unused-ignore]

from taco_core.ports import Clock
from taco_http.s3api.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidArgument,
    InvalidRequest,
    NotImplementedS3,
    RequestTimeTooSkewed,
    S3Error,
    SignatureDoesNotMatch,
)
from taco_http.s3api.request import S3Request

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "s3"
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGNED_EXPIRES = 7 * 24 * 3600

_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_TIMESTAMP_RE = re.compile(r"\d{8}T\d{6}Z")
_DATE_RE = re.compile(r"\d{8}")
_SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")

_SIGV2_REFUSED = (
    "The authorization mechanism you have provided is not supported. "
    f"Please use {ALGORITHM} (Signature Version 4; boto3: signature_version='s3v4')."
)
_QUERY_AUTH = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


class PayloadMode(enum.Enum):
    """What ``x-amz-content-sha256`` says about the body, and so how to read it."""

    SHA256 = "sha256"  # the header is the body's own SHA-256, hex
    UNSIGNED = "UNSIGNED-PAYLOAD"
    STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

    @property
    def aws_chunked(self) -> bool:
        """The body is ``aws-chunked`` framing, not the object itself."""
        return self.value.startswith("STREAMING-")

    @property
    def signed_chunks(self) -> bool:
        """Every chunk carries a signature chained from the seed signature."""
        return self in (PayloadMode.STREAMING_SIGNED, PayloadMode.STREAMING_SIGNED_TRAILER)

    @property
    def trailer(self) -> bool:
        """Trailing headers (a checksum) follow the last chunk."""
        return self.value.endswith("-TRAILER")


_LITERAL_MODES = {mode.value: mode for mode in PayloadMode if mode is not PayloadMode.SHA256}
_SIGV4A_MODES = frozenset(
    {"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"}
)

P_co = TypeVar("P_co", covariant=True)


@attrs.frozen
class SigningCredential(Generic[P_co]):
    """The secret a request must be signed with, and who the key belongs to."""

    secret_access_key: str = attrs.field(repr=False)
    principal: P_co


class CredentialResolver(Protocol[P_co]):
    """Finds the secret of an access key, checking the session token that came with it."""

    async def __call__(
        self, access_key_id: str, session_token: str | None, /
    ) -> SigningCredential[P_co]:
        """The credential for ``access_key_id`` presented with ``session_token``.

        Called only after the request is well-formed and inside the clock
        window, before its signature is checked. Raises ``InvalidAccessKeyId``
        for an unknown key, ``InvalidToken`` when the token is missing,
        malformed or not the key's, ``ExpiredToken`` when the credentials have
        expired and ``AccessDenied`` when they were revoked. Read-only.
        """
        ...


@attrs.frozen
class SigningContext:
    """What the chunk and trailer signatures of a streaming upload are chained from."""

    timestamp: str
    scope: str
    signing_key: bytes = attrs.field(repr=False)
    seed_signature: str

    def chunk_signature(self, previous: str, chunk_sha256: str) -> str:
        """The signature of a chunk whose SHA-256 (hex) is ``chunk_sha256``."""
        return self._sign(
            "AWS4-HMAC-SHA256-PAYLOAD",
            self.timestamp,
            self.scope,
            previous,
            EMPTY_SHA256_HASH,
            chunk_sha256,
        )

    def trailer_signature(self, previous: str, canonical_trailer: bytes) -> str:
        """The signature of the trailing headers, in canonical form (``name:value\\n`` each)."""
        digest = hashlib.sha256(canonical_trailer).hexdigest()
        return self._sign("AWS4-HMAC-SHA256-TRAILER", self.timestamp, self.scope, previous, digest)

    def _sign(self, *lines: str) -> str:
        return hmac.new(self.signing_key, "\n".join(lines).encode(), hashlib.sha256).hexdigest()


@attrs.frozen
class VerifiedRequest(Generic[P_co]):
    """A request whose signature holds: who signed it and how its body must be read."""

    access_key_id: str
    session_token: str | None = attrs.field(repr=False)
    principal: P_co
    payload: PayloadMode
    content_sha256: str | None  # lower-case hex when ``payload`` is SHA256
    presigned: bool
    region: str
    signing: SigningContext


@attrs.frozen
class _Claim:
    """What the client claims it signed, parsed from the header or the query."""

    access_key_id: str
    region: str
    timestamp: str
    signed_headers: tuple[str, ...]
    signature: str
    session_token: str | None
    presigned: bool
    query: tuple[tuple[str, str], ...]  # decoded, without X-Amz-Signature


def signing_key(secret_access_key: str, date: str, region: str, service: str = SERVICE) -> bytes:
    """The SigV4 key for one day, region and service (``kSigning`` in AWS's documents)."""
    key = ("AWS4" + secret_access_key).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@attrs.frozen
class SigV4Verifier(Generic[P_co]):
    """Verifies SigV4 on S3 requests.

    ``region`` pins the region the scope must name; None accepts any, which
    is safe because the region is part of the signed scope and lets Terraform
    users keep whatever ``region`` their backend block already has.
    """

    resolver: CredentialResolver[P_co]
    clock: Clock
    region: str | None = None
    max_skew: timedelta = MAX_SKEW

    async def verify(self, request: S3Request) -> VerifiedRequest[P_co]:
        """The verified identity and payload mode of ``request``, or an ``S3Error``."""
        query = _decode_query(request.raw_query)
        authorization = request.header("authorization")
        presigned = any(name == "X-Amz-Algorithm" for name, _ in query)
        if authorization is not None and presigned:
            raise InvalidArgument(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter "
                "or the Authorization header should be specified",
                ArgumentName="Authorization",
            )
        now = self.clock.now()
        if authorization is not None:
            claim = self._claim_from_header(request, authorization, query, now)
            payload_value = request.header("x-amz-content-sha256")
            if payload_value is None:
                raise InvalidRequest(
                    "Missing required header for this request: x-amz-content-sha256"
                )
        elif presigned:
            claim = self._claim_from_query(request, query, now)
            signed_value = request.header("x-amz-content-sha256")
            payload_value = signed_value if signed_value is not None else PayloadMode.UNSIGNED.value
        elif any(name in ("AWSAccessKeyId", "Signature") for name, _ in query):
            raise InvalidRequest(_SIGV2_REFUSED)
        elif any(name in _QUERY_AUTH for name, _ in query):
            raise AuthorizationQueryParametersError(
                "Query-string authentication requires the X-Amz-Algorithm parameter."
            )
        else:
            raise AccessDenied(
                "Anonymous access is not allowed: sign requests with AWS Signature Version 4 "
                "(credentials from `taco creds`)."
            )
        mode, content_sha256 = _payload_mode(payload_value)
        if claim.presigned and mode.aws_chunked:
            raise InvalidRequest(f"{mode.value} cannot be used with a presigned URL.")
        _check_signed_headers(request, claim)

        credential = await self.resolver(claim.access_key_id, claim.session_token)
        canonical, string_to_sign = _canonical_request(request, claim, payload_value)
        key = signing_key(credential.secret_access_key, claim.timestamp[:8], claim.region)
        expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, claim.signature):
            raise SignatureDoesNotMatch(
                AWSAccessKeyId=claim.access_key_id,
                StringToSign=string_to_sign,
                SignatureProvided=claim.signature,
                CanonicalRequest=_redacted(canonical, claim.session_token),
            )
        return VerifiedRequest(
            access_key_id=claim.access_key_id,
            session_token=claim.session_token,
            principal=credential.principal,
            payload=mode,
            content_sha256=content_sha256,
            presigned=claim.presigned,
            region=claim.region,
            signing=SigningContext(
                timestamp=claim.timestamp,
                scope=f"{claim.timestamp[:8]}/{claim.region}/{SERVICE}/aws4_request",
                signing_key=key,
                seed_signature=claim.signature,
            ),
        )

    def _claim_from_header(
        self,
        request: S3Request,
        authorization: str,
        query: list[tuple[str, str]],
        now: datetime,
    ) -> _Claim:
        fields = _parse_authorization(authorization)
        access_key_id, date, region = self._scope(
            fields["Credential"], AuthorizationHeaderMalformed
        )
        timestamp, when = _request_time(request)
        if date != timestamp[:8]:
            raise AuthorizationHeaderMalformed(
                f'Invalid credential date "{date}". This date is not the same as X-Amz-Date: '
                f'"{timestamp[:8]}".'
            )
        if abs(now - when) > self.max_skew:
            raise RequestTimeTooSkewed(
                RequestTime=timestamp,
                ServerTime=now.strftime(_TIMESTAMP),
                MaxAllowedSkewMilliseconds=str(int(self.max_skew.total_seconds() * 1000)),
            )
        return _Claim(
            access_key_id=access_key_id,
            region=region,
            timestamp=timestamp,
            signed_headers=_signed_headers(fields["SignedHeaders"], AuthorizationHeaderMalformed),
            signature=_signature(fields["Signature"], AuthorizationHeaderMalformed),
            session_token=request.header("x-amz-security-token"),
            presigned=False,
            query=tuple(query),
        )

    def _claim_from_query(
        self, request: S3Request, query: list[tuple[str, str]], now: datetime
    ) -> _Claim:
        params: dict[str, str] = {}
        for name, value in query:
            if name in _QUERY_AUTH or name == "X-Amz-Security-Token":
                if name in params:
                    raise AuthorizationQueryParametersError(f"{name} was given more than once.")
                params[name] = value
        missing = [name for name in _QUERY_AUTH if name not in params]
        if missing:
            raise AuthorizationQueryParametersError(
                "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                f"X-Amz-Expires parameters; missing {', '.join(missing)}."
            )
        if params["X-Amz-Algorithm"] != ALGORITHM:
            raise AuthorizationQueryParametersError(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
        access_key_id, date, region = self._scope(
            params["X-Amz-Credential"], AuthorizationQueryParametersError
        )
        timestamp = params["X-Amz-Date"]
        when = _parse_timestamp(timestamp, AuthorizationQueryParametersError)
        if date != timestamp[:8]:
            raise AuthorizationQueryParametersError(
                f'Invalid credential date "{date}". This date is not the same as X-Amz-Date: '
                f'"{timestamp[:8]}".'
            )
        expires_text = params["X-Amz-Expires"]
        if not expires_text.isdigit() or not expires_text.isascii():
            raise AuthorizationQueryParametersError("X-Amz-Expires should be a number of seconds")
        expires = int(expires_text)
        if expires > MAX_PRESIGNED_EXPIRES:
            raise AuthorizationQueryParametersError(
                "X-Amz-Expires must be less than a week (in seconds) that is 604800"
            )
        if when - now > self.max_skew:
            raise AccessDenied("Request is not valid yet")
        if now > when + timedelta(seconds=expires):
            raise AccessDenied(
                "Request has expired",
                **{
                    "X-Amz-Expires": expires_text,
                    "Expires": (when + timedelta(seconds=expires)).strftime(_TIMESTAMP),
                    "ServerTime": now.strftime(_TIMESTAMP),
                },
            )
        header_token = request.header("x-amz-security-token")
        query_token = params.get("X-Amz-Security-Token")
        if header_token is not None and query_token is not None and header_token != query_token:
            raise InvalidArgument(
                "The session token in the query and in the x-amz-security-token header differ.",
                ArgumentName="X-Amz-Security-Token",
            )
        return _Claim(
            access_key_id=access_key_id,
            region=region,
            timestamp=timestamp,
            signed_headers=_signed_headers(
                params["X-Amz-SignedHeaders"], AuthorizationQueryParametersError
            ),
            signature=_signature(params["X-Amz-Signature"], AuthorizationQueryParametersError),
            session_token=query_token if query_token is not None else header_token,
            presigned=True,
            query=tuple((name, value) for name, value in query if name != "X-Amz-Signature"),
        )

    def _scope(self, credential: str, error: type[S3Error]) -> tuple[str, str, str]:
        parts = credential.split("/")
        if (
            len(parts) != 5
            or not parts[0]
            or not _DATE_RE.fullmatch(parts[1])
            or not parts[2]
            or parts[4] != "aws4_request"
        ):
            raise error(
                f'The credential "{credential}" is malformed; expecting '
                '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
            )
        access_key_id, date, region, service, _ = parts
        if service != SERVICE:
            raise error(
                f'The authorization mechanism is malformed: incorrect service "{service}". '
                f'This endpoint belongs to "{SERVICE}".'
            )
        if self.region is not None and region != self.region:
            raise error(
                f"The authorization mechanism is malformed; the region '{region}' is wrong; "
                f"expecting '{self.region}'",
                Region=self.region,
            )
        return access_key_id, date, region


def _decode_query(raw_query: str) -> list[tuple[str, str]]:
    """The query's (name, value) pairs, decoded as S3 decodes them (``+`` is a space)."""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        try:
            pairs.append(
                (unquote_plus(name, errors="strict"), unquote_plus(value, errors="strict"))
            )
        except UnicodeDecodeError:
            raise InvalidArgument(
                "The query string is not valid percent-encoded UTF-8.", ArgumentName=name
            ) from None
    return pairs


def _parse_authorization(value: str) -> dict[str, str]:
    prefix = ALGORITHM + " "
    if not value.startswith(prefix):
        scheme = value.split(" ", 1)[0]
        if scheme == "AWS":
            raise InvalidRequest(_SIGV2_REFUSED)
        if scheme == "AWS4-ECDSA-P256-SHA256":
            raise NotImplementedS3("Signature Version 4A is not implemented; use SigV4.")
        raise InvalidArgument(
            "Unsupported Authorization Type", ArgumentName="Authorization", ArgumentValue=scheme
        )
    fields: dict[str, str] = {}
    for part in value[len(prefix) :].split(","):
        name, equals, field_value = part.strip().partition("=")
        if not equals or name not in ("Credential", "SignedHeaders", "Signature"):
            raise AuthorizationHeaderMalformed(
                f'The authorization header is malformed; unexpected "{part.strip()}".'
            )
        if name in fields:
            raise AuthorizationHeaderMalformed(
                f"The authorization header is malformed; {name} is given twice."
            )
        fields[name] = field_value
    for name in ("Credential", "SignedHeaders", "Signature"):
        if name not in fields:
            raise AuthorizationHeaderMalformed(
                f"The authorization header is malformed; {name} is missing."
            )
    return fields


def _parse_timestamp(text: str, error: type[S3Error]) -> datetime:
    if not _TIMESTAMP_RE.fullmatch(text):
        raise error(f'X-Amz-Date "{text}" is not of the form YYYYMMDDTHHMMSSZ.')
    try:
        return datetime.strptime(text, _TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise error(f'X-Amz-Date "{text}" is not a valid time.') from None


def _request_time(request: S3Request) -> tuple[str, datetime]:
    """The signed timestamp: ``x-amz-date``, else the ``Date`` header."""
    amz_date = request.header("x-amz-date")
    if amz_date is not None:
        when = _parse_timestamp(amz_date, AccessDenied)
        return amz_date, when
    date = request.header("date")
    if date is None:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    try:
        when = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        raise AccessDenied(
            "AWS authentication requires a valid Date or x-amz-date header"
        ) from None
    # RFC 2822's "-0000" (what Python's formatdate writes) is UTC too.
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.strftime(_TIMESTAMP), when


def _signed_headers(value: str, error: type[S3Error]) -> tuple[str, ...]:
    names = value.split(";")
    if any(not name or name != name.lower().strip() for name in names):
        raise error(f'SignedHeaders "{value}" must be lower-case names separated by ";".')
    if names != sorted(set(names)):
        raise error(f'SignedHeaders "{value}" must be sorted and without repeats.')
    if "host" not in names:
        raise error("SignedHeaders must include host.")
    return tuple(names)


def _signature(value: str, error: type[S3Error]) -> str:
    if not _SIGNATURE_RE.fullmatch(value):
        raise error("The signature must be 64 lower-case hexadecimal characters.")
    return value


def _payload_mode(value: str) -> tuple[PayloadMode, str | None]:
    if value in _LITERAL_MODES:
        return _LITERAL_MODES[value], None
    if _SHA256_RE.fullmatch(value):
        return PayloadMode.SHA256, value.lower()
    if value in _SIGV4A_MODES:
        raise NotImplementedS3(f"{value} (Signature Version 4A) is not implemented; use SigV4.")
    raise InvalidArgument(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
        "or a valid sha256 value.",
        ArgumentName="x-amz-content-sha256",
        ArgumentValue=value,
    )


def _check_signed_headers(request: S3Request, claim: _Claim) -> None:
    """Every signed header is present; every ``x-amz-*`` header present is signed."""
    signed = set(claim.signed_headers)
    for name in claim.signed_headers:
        if not request.values(name):
            raise AccessDenied(f"The signed header {name} is missing from the request.")
    unsigned = sorted({name for name, _ in request.headers if name.startswith("x-amz-")} - signed)
    if unsigned:
        raise AccessDenied(
            "There were headers present in the request which were not signed",
            HeadersNotSigned=", ".join(unsigned),
        )


def _redacted(canonical: str, session_token: str | None) -> str:
    """The canonical request to show the client, without its session token.

    S3 echoes the canonical request so a client can find where its signing
    differs; the token is a credential and error bodies end up in logs.
    """
    if not session_token:
        return canonical
    return canonical.replace(session_token, "<session-token>").replace(
        percent_encode(session_token), "<session-token>"
    )


def _canonical_request(request: S3Request, claim: _Claim, payload_value: str) -> tuple[str, str]:
    """The canonical request and string to sign, built by botocore from the signed parts."""
    # Only canonicalisation is asked of the signer, which never reads the secret.
    signer = S3SigV4Auth(Credentials(claim.access_key_id, ""), SERVICE, claim.region)
    encoded_query = "&".join(
        f"{percent_encode(name)}={percent_encode(value)}" for name, value in claim.query
    )
    # The host is a placeholder: the path and headers come from the request itself,
    # and botocore reads only the query back out of this URL.
    aws_request = AWSRequest(method=request.method, url=f"http://s3.invalid/?{encoded_query}")
    aws_request.context["timestamp"] = claim.timestamp
    headers = HTTPHeaders()
    for name in claim.signed_headers:
        for value in request.values(name):
            headers[name] = value  # HTTPMessage appends, so repeats stay repeats
    canonical = "\n".join(
        (
            request.method,
            request.raw_path or "/",
            signer.canonical_query_string(aws_request),
            signer.canonical_headers(headers) + "\n",
            signer.signed_headers(headers),
            payload_value,
        )
    )
    return canonical, signer.string_to_sign(aws_request, canonical)
