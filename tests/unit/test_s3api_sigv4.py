"""SigV4 verification of S3 requests, against botocore-signed and AWS-published requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taco_http.s3api import PayloadMode, S3Request
from taco_http.s3api.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    ExpiredToken,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidRequest,
    InvalidToken,
    NotImplementedS3,
    RequestTimeTooSkewed,
    S3Error,
    SignatureDoesNotMatch,
)
from taco_http.s3api.sigv4 import signing_key
from tests.unit.s3signing import (
    ACCESS_KEY,
    EMPTY_SHA256,
    EXPIRED_KEY,
    SECRET,
    TOKEN,
    aws_signing_key,
    credentials,
    presigned,
    replace_header,
    signed,
    verifier,
    with_header,
    without_header,
)

# AWS's published "GET Object" example (Signature Version 4, Authorization header).
AWS_EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_EXAMPLE_TIME = datetime(2013, 5, 24, tzinfo=UTC)


class _ExampleCredentials:
    async def __call__(self, access_key_id: str, session_token: str | None):
        from taco_http.s3api import SigningCredential

        assert access_key_id == "AKIAIOSFODNN7EXAMPLE"
        return SigningCredential(AWS_EXAMPLE_SECRET, "example")


def aws_get_example(
    signature: str = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
) -> S3Request:
    return S3Request(
        "GET",
        "/test.txt",
        "",
        [
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                "aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                f"Signature={signature}",
            ),
        ],
    )


async def expect(error: type[S3Error], request: S3Request, **verifier_args: object) -> S3Error:
    with pytest.raises(error) as caught:
        await verifier(**verifier_args).verify(request)  # type: ignore[arg-type]
    return caught.value


async def test_aws_published_example_verifies() -> None:
    """AWS's own documented GET example, signature and all, verifies."""
    from taco_adapters.clock import ManualClock
    from taco_http.s3api import SigV4Verifier

    checker = SigV4Verifier(_ExampleCredentials(), ManualClock(AWS_EXAMPLE_TIME))
    verified = await checker.verify(aws_get_example())
    assert verified.access_key_id == "AKIAIOSFODNN7EXAMPLE"
    assert verified.payload is PayloadMode.SHA256
    assert verified.content_sha256 == EMPTY_SHA256


async def test_aws_published_example_with_a_wrong_signature_is_refused() -> None:
    """The same example with one signature digit changed is SignatureDoesNotMatch."""
    from taco_adapters.clock import ManualClock
    from taco_http.s3api import SigV4Verifier

    checker = SigV4Verifier(_ExampleCredentials(), ManualClock(AWS_EXAMPLE_TIME))
    with pytest.raises(SignatureDoesNotMatch):
        await checker.verify(
            aws_get_example(
                "0" + "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"[1:]
            )
        )


def test_signing_key_follows_aws_derivation() -> None:
    """The derived key equals AWS's documented kDate/kRegion/kService/kSigning chain."""
    assert signing_key(SECRET, "20260101", "eu-west-3") == aws_signing_key(
        SECRET, "20260101", "eu-west-3"
    )


async def test_botocore_signed_get_verifies_with_principal_and_token() -> None:
    """A botocore-signed GET verifies; the result names the key, token and principal."""
    verified = await verifier().verify(signed("GET"))
    assert verified.access_key_id == ACCESS_KEY
    assert verified.session_token == TOKEN
    assert verified.principal == "alice"
    assert verified.presigned is False
    assert verified.region == "us-east-1"


async def test_botocore_signed_put_carries_its_body_hash() -> None:
    """A PUT signed with the body's SHA-256 reports the SHA256 payload mode and digest."""
    verified = await verifier().verify(signed("PUT", body=b"{}"))
    assert verified.payload is PayloadMode.SHA256
    assert (
        verified.content_sha256
        == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    )


async def test_terraform_shaped_requests_verify() -> None:
    """Workspace keys with a raw colon, x-id queries and list queries verify as sent."""
    for request in (
        signed("PUT", "/s3/tfstate/env:/dev/proj/terraform.tfstate.tflock", "x-id=PutObject",
               [("If-None-Match", "*"), ("Content-Type", "application/json")], b"{}"),
        signed("GET", "/s3/tfstate/env%3A/dev/proj/terraform.tfstate"),
        signed("GET", "/s3/tfstate", "list-type=2&max-keys=1000&prefix=env%3A%2F"),
        signed("GET", "/s3/tfstate", "max-keys=1000&prefix=env%3A%2F"),
        signed("POST", "/s3/tfstate/proj/terraform.tfstate", "uploads"),
    ):  # fmt: skip
        await verifier().verify(request)


async def test_go_style_plus_in_query_means_space() -> None:
    """A query space sent as '+' (Go's url.Values) verifies against a %20 signature."""
    request = signed("GET", "/s3/tfstate", "prefix=a%20b")
    go_style = S3Request(request.method, request.raw_path, "prefix=a+b", request.headers)
    await verifier().verify(go_style)


def _rebuild(r: S3Request, method=None, path=None, query=None) -> S3Request:
    return S3Request(method or r.method, path or r.raw_path, query or r.raw_query, r.headers)


TAMPERINGS = {
    "method": lambda r: _rebuild(r, method="DELETE"),
    "path": lambda r: _rebuild(r, path=r.raw_path + "x"),
    "path-encoding": lambda r: _rebuild(r, path=r.raw_path.replace("env:", "env%3A")),
    "query-added": lambda r: _rebuild(r, query=r.raw_query + "&extra=1"),
    "query-value": lambda r: _rebuild(r, query=r.raw_query.replace("PutObject", "GetObject")),
    "signed-header": lambda r: replace_header(r, "Content-Type", "text/plain"),
    "host": lambda r: replace_header(r, "Host", "evil.example:8443"),
    "condition": lambda r: replace_header(r, "If-None-Match", '"etag"'),
    "repeated-signed-header": lambda r: with_header(r, "Content-Type", "text/plain"),
    "payload-hash": lambda r: replace_header(r, "X-Amz-Content-SHA256", EMPTY_SHA256),
}


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=TAMPERINGS.keys())
async def test_tampering_with_a_signed_part_is_refused(tamper) -> None:
    """Changing the method, path, query, a signed header or the payload hash is refused."""
    request = signed(
        "PUT",
        "/s3/tfstate/env:/dev/proj/terraform.tfstate",
        "x-id=PutObject",
        [("Content-Type", "application/json"), ("If-None-Match", "*")],
        b"{}",
    )
    await verifier().verify(request)
    error = await expect(SignatureDoesNotMatch, tamper(request))
    assert error.status == 403
    details = dict(error.details)
    assert details["AWSAccessKeyId"] == ACCESS_KEY
    assert "x-amz-security-token:<session-token>" in details["CanonicalRequest"]
    assert TOKEN not in details["CanonicalRequest"]


async def test_unsigned_headers_other_than_amz_are_ignored() -> None:
    """Headers outside SignedHeaders (a proxy's, a user agent) do not affect verification."""
    request = with_header(signed("GET"), "X-Forwarded-For", "10.0.0.1")
    await verifier().verify(with_header(request, "User-Agent", "something-else"))


async def test_unsigned_amz_header_is_access_denied() -> None:
    """An x-amz-* header the client did not sign is refused, naming the header."""
    error = await expect(AccessDenied, with_header(signed("GET"), "x-amz-acl", "public-read"))
    assert ("HeadersNotSigned", "x-amz-acl") in error.details


async def test_missing_signed_header_is_refused() -> None:
    """A header listed in SignedHeaders but absent from the request is refused."""
    request = signed("GET", headers=[("Range", "bytes=0-9")])
    await expect(AccessDenied, without_header(request, "Range"))


async def test_date_change_breaks_signature_or_scope() -> None:
    """Moving x-amz-date by a second breaks the signature; by a day, the credential scope."""
    request = signed("GET")
    stamp = request.header("x-amz-date")
    assert stamp is not None
    second = stamp[:-3] + f"{(int(stamp[-3:-1]) + 1) % 60:02d}Z"
    await expect(SignatureDoesNotMatch, replace_header(request, "x-amz-date", second))
    when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ") + timedelta(days=1)
    await expect(
        AuthorizationHeaderMalformed,
        replace_header(request, "x-amz-date", when.strftime("%Y%m%dT%H%M%SZ")),
    )


@pytest.mark.parametrize("offset", [timedelta(minutes=16), -timedelta(minutes=16)])
async def test_clock_skew_beyond_fifteen_minutes_is_refused(offset: timedelta) -> None:
    """A request more than 15 minutes from the server's clock is RequestTimeTooSkewed."""
    error = await expect(RequestTimeTooSkewed, signed("GET"), now=datetime.now(UTC) + offset)
    assert error.status == 403
    assert dict(error.details)["MaxAllowedSkewMilliseconds"] == "900000"


async def test_clock_skew_within_fifteen_minutes_is_accepted() -> None:
    """Fourteen minutes of skew either way is tolerated."""
    for offset in (timedelta(minutes=14), -timedelta(minutes=14)):
        await verifier(now=datetime.now(UTC) + offset).verify(signed("GET"))


async def test_wrong_region_is_refused_when_pinned() -> None:
    """With a pinned region, a scope naming another region is AuthorizationHeaderMalformed."""
    request = signed("GET", region="eu-west-1")
    error = await expect(AuthorizationHeaderMalformed, request, region="us-east-1")
    assert ("Region", "us-east-1") in error.details
    await verifier().verify(request)  # any region is fine when none is pinned


async def test_wrong_service_is_refused() -> None:
    """A request signed for another service (scope .../dynamodb/...) is refused."""
    error = await expect(AuthorizationHeaderMalformed, signed("GET", service="dynamodb"))
    assert "dynamodb" in error.message


async def test_missing_session_token_is_refused() -> None:
    """Temporary credentials used without their session token are InvalidToken."""
    await expect(InvalidToken, signed("GET", creds=credentials(token=None)))


async def test_foreign_session_token_is_refused() -> None:
    """A session token that is not the key's is InvalidToken, before any signature check."""
    await expect(InvalidToken, signed("GET", creds=credentials(token="someone-elses")))


async def test_swapped_session_token_header_is_refused() -> None:
    """Replacing the signed token header after signing fails (resolver or signature)."""
    request = replace_header(signed("GET"), "X-Amz-Security-Token", "someone-elses")
    await expect(InvalidToken, request)


async def test_unknown_and_expired_keys_are_refused() -> None:
    """An unknown key is InvalidAccessKeyId (403); an expired one ExpiredToken (400)."""
    error = await expect(InvalidAccessKeyId, signed("GET", creds=credentials(key="AKIDNOBODY")))
    assert error.status == 403
    error = await expect(ExpiredToken, signed("GET", creds=credentials(key=EXPIRED_KEY)))
    assert error.status == 400


async def test_wrong_secret_is_signature_mismatch() -> None:
    """The right key and token signed with another secret is SignatureDoesNotMatch."""
    from botocore.credentials import Credentials

    await expect(
        SignatureDoesNotMatch, signed("GET", creds=Credentials(ACCESS_KEY, "guess", TOKEN))
    )


async def test_anonymous_request_is_access_denied() -> None:
    """A request with no signature at all is AccessDenied."""
    await expect(AccessDenied, S3Request("GET", "/s3/b/k", "", [("Host", "h")]))


async def test_sigv2_is_refused_with_the_fix() -> None:
    """Signature Version 2 (header or query) is refused, naming AWS4-HMAC-SHA256."""
    header = S3Request("GET", "/s3/b/k", "", [("Host", "h"), ("Authorization", "AWS AKID:c2ln")])
    error = await expect(InvalidRequest, header)
    assert "AWS4-HMAC-SHA256" in error.message
    query = S3Request(
        "GET", "/s3/b/k", "AWSAccessKeyId=AKID&Signature=x&Expires=1", [("Host", "h")]
    )
    error = await expect(InvalidRequest, query)
    assert "AWS4-HMAC-SHA256" in error.message


async def test_sigv4a_is_not_implemented() -> None:
    """SigV4A (ECDSA) requests answer NotImplemented (501), not a signature error."""
    request = replace_header(signed("GET"), "Authorization", "AWS4-ECDSA-P256-SHA256 Credential=x")
    error = await expect(NotImplementedS3, request)
    assert error.status == 501


_SCOPE = "Credential=a/20260101/us-east-1/s3/aws4_request"
_ZEROS = "Signature=" + "0" * 64
MALFORMED = [
    f"{_SCOPE}, SignedHeaders=host",
    f"Credential=a/2026/us-east-1/s3/aws4_request, SignedHeaders=host, {_ZEROS}",
    f"Credential=a/20260101/us-east-1/s3, SignedHeaders=host, {_ZEROS}",
    f"{_SCOPE}, SignedHeaders=x-amz-date, {_ZEROS}",
    f"{_SCOPE}, SignedHeaders=x-amz-date;host, {_ZEROS}",
    f"{_SCOPE}, SignedHeaders=Host, {_ZEROS}",
    f"{_SCOPE}, SignedHeaders=host, Signature=XYZ",
    f"{_SCOPE}, Credential=b, SignedHeaders=host, {_ZEROS}",
]


@pytest.mark.parametrize("fields", MALFORMED)
async def test_malformed_authorization_header_is_400(fields: str) -> None:
    """Missing parts, a bad scope, unsorted or unsigned-host SignedHeaders, a bad signature: 400."""
    request = replace_header(signed("GET"), "Authorization", f"AWS4-HMAC-SHA256 {fields}")
    error = await expect(AuthorizationHeaderMalformed, request)
    assert error.status == 400


async def test_missing_content_sha256_is_invalid_request() -> None:
    """Header-signed requests must carry x-amz-content-sha256, as S3 requires."""
    await expect(InvalidRequest, without_header(signed("GET"), "x-amz-content-sha256"))


async def test_bad_content_sha256_value_is_invalid_argument() -> None:
    """An x-amz-content-sha256 that is neither a digest nor a known mode is InvalidArgument."""
    request = signed("GET", payload="NOT-A-MODE")
    await expect(InvalidArgument, request)


async def test_duplicate_security_header_is_refused() -> None:
    """Two x-amz-date headers are ambiguous and refused."""
    request = signed("GET")
    stamp = request.header("x-amz-date")
    assert stamp is not None
    await expect(InvalidArgument, with_header(request, "X-Amz-Date", stamp))


async def test_header_and_query_auth_together_are_refused() -> None:
    """Only one authentication mechanism may be used per request."""
    request = signed("GET", query="X-Amz-Algorithm=AWS4-HMAC-SHA256")
    await expect(InvalidArgument, request)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("UNSIGNED-PAYLOAD", PayloadMode.UNSIGNED),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", PayloadMode.STREAMING_SIGNED),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", PayloadMode.STREAMING_SIGNED_TRAILER),
        ("STREAMING-UNSIGNED-PAYLOAD-TRAILER", PayloadMode.STREAMING_UNSIGNED_TRAILER),
    ],
)
async def test_payload_modes_are_recognised(mode: str, expected: PayloadMode) -> None:
    """Each x-amz-content-sha256 literal S3 accepts maps to its payload mode."""
    verified = await verifier().verify(signed("PUT", payload=mode))
    assert verified.payload is expected
    assert verified.content_sha256 is None


async def test_sigv4a_streaming_mode_is_not_implemented() -> None:
    """The ECDSA streaming payload mode answers NotImplemented."""
    await expect(
        NotImplementedS3, signed("PUT", payload="STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")
    )


async def test_date_header_is_accepted_without_x_amz_date() -> None:
    """Signing with a Date header instead of x-amz-date verifies, as SigV4 allows."""
    request = signed("GET", headers=[("Date", "Mon, 01 Jan 2001 00:00:00 GMT")])
    assert request.header("x-amz-date") is None
    stamp = request.header("date")
    assert stamp is not None
    from email.utils import parsedate_to_datetime

    await verifier(now=parsedate_to_datetime(stamp).replace(tzinfo=UTC)).verify(request)


# Presigned URLs


async def test_presigned_get_verifies() -> None:
    """A botocore presigned URL verifies; its payload is UNSIGNED-PAYLOAD."""
    verified = await verifier().verify(presigned("GET", query="x-id=GetObject"))
    assert verified.presigned is True
    assert verified.payload is PayloadMode.UNSIGNED
    assert verified.session_token == TOKEN
    assert verified.principal == "alice"


async def test_presigned_url_expires() -> None:
    """A presigned URL is accepted until X-Amz-Expires has passed, then AccessDenied."""
    request = presigned(expires=600)
    await verifier(now=datetime.now(UTC) + timedelta(seconds=590)).verify(request)
    error = await expect(AccessDenied, request, now=datetime.now(UTC) + timedelta(seconds=620))
    assert error.message == "Request has expired"


async def test_presigned_url_from_the_future_is_refused() -> None:
    """A presigned URL dated beyond the allowed skew is not valid yet."""
    await expect(AccessDenied, presigned(), now=datetime.now(UTC) - timedelta(minutes=20))


async def test_presigned_expiry_over_a_week_is_refused() -> None:
    """X-Amz-Expires may not exceed 604800 seconds (7 days)."""
    await expect(AuthorizationQueryParametersError, presigned(expires=604801))
    await verifier().verify(presigned(expires=604800))


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda q: q.replace("X-Amz-Expires=3600", "X-Amz-Expires=7200"), id="expires"),
        pytest.param(lambda q: q + "&versionId=2", id="added-param"),
        pytest.param(lambda q: q.replace("x-id=GetObject", "x-id=DeleteObject"), id="operation"),
    ],
)
async def test_presigned_query_tampering_is_refused(tamper) -> None:
    """Changing a presigned URL's query (expiry, parameters) breaks the signature."""
    request = presigned("GET", query="x-id=GetObject")
    forged = S3Request(request.method, request.raw_path, tamper(request.raw_query), request.headers)
    await expect(SignatureDoesNotMatch, forged)


async def test_presigned_method_change_is_refused() -> None:
    """A presigned GET cannot be replayed as a PUT."""
    request = presigned("GET")
    await expect(
        SignatureDoesNotMatch,
        S3Request("PUT", request.raw_path, request.raw_query, request.headers),
    )


async def test_presigned_missing_parameter_is_refused() -> None:
    """A presigned URL missing X-Amz-Signature names what is missing."""
    request = presigned("GET")
    query = "&".join(
        p for p in request.raw_query.split("&") if not p.startswith("X-Amz-Signature=")
    )
    error = await expect(
        AuthorizationQueryParametersError,
        S3Request("GET", request.raw_path, query, request.headers),
    )
    assert "X-Amz-Signature" in error.message


async def test_presigned_without_token_is_refused() -> None:
    """A presigned URL made without the session token is InvalidToken."""
    await expect(InvalidToken, presigned(creds=credentials(token=None)))


async def test_presigned_unsigned_amz_header_is_refused() -> None:
    """An x-amz-* header sent with a presigned URL must have been signed."""
    await expect(AccessDenied, with_header(presigned("PUT"), "x-amz-acl", "public-read"))


async def test_presigned_signed_header_verifies() -> None:
    """Headers named in X-Amz-SignedHeaders are checked like in the header form."""
    request = presigned("PUT", headers=[("Content-Type", "application/json")])
    await verifier().verify(request)
    await expect(SignatureDoesNotMatch, replace_header(request, "Content-Type", "text/plain"))


# Properties

_segment = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=12
).filter(lambda s: s not in (".", ".."))
_query_value = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    segments=st.lists(_segment, min_size=1, max_size=4),
    params=st.lists(st.tuples(st.sampled_from(["prefix", "x-id", "a b", "ü"]), _query_value)),
    header=_query_value,
)  # fmt: skip
async def test_any_botocore_signed_request_verifies(segments, params, header) -> None:
    """Whatever key, query and header values botocore signs, the verifier agrees with it."""
    from botocore.utils import percent_encode

    path = "/s3/bucket/" + "/".join(percent_encode(s, safe="/~") for s in segments)
    query = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params)
    request = signed("GET", path, query, [("x-amz-meta-note", header)] if header.strip() else [])
    await verifier().verify(request)


@settings(max_examples=80, deadline=None)
@given(data=st.data())
async def test_any_single_byte_change_to_signed_content_is_refused(data) -> None:
    """Changing any one character of the method, path, query or a signed header value is refused."""
    request = signed(
        "PUT",
        "/s3/tfstate/env:/dev/proj/terraform.tfstate",
        "x-id=PutObject",
        [("Content-Type", "application/json"), ("If-None-Match", "*")],
        b"{}",
    )
    part = data.draw(st.sampled_from(["path", "query", "content-type", "if-none-match"]))
    original = {
        "path": request.raw_path,
        "query": request.raw_query,
        "content-type": request.header("content-type"),
        "if-none-match": request.header("if-none-match"),
    }[part]
    assert original is not None
    index = data.draw(st.integers(0, len(original) - 1))
    replacement = data.draw(st.sampled_from("aZ09-_/%:*").filter(lambda c: c != original[index]))
    changed = original[:index] + replacement + original[index + 1 :]
    if part == "path":
        forged = S3Request(request.method, changed, request.raw_query, request.headers)
    elif part == "query":
        forged = S3Request(request.method, request.raw_path, changed, request.headers)
    else:
        forged = replace_header(request, part, changed)
    with pytest.raises(S3Error):
        await verifier().verify(forged)
