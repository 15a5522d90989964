"""S3 error codes, statuses and the XML body clients parse."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taco_http.s3api import S3Request, render_error
from taco_http.s3api import errors as e

# S3's documented code -> status for every error the surface answers with.
S3_STATUSES = {
    e.AccessDenied: ("AccessDenied", 403),
    e.SignatureDoesNotMatch: ("SignatureDoesNotMatch", 403),
    e.InvalidAccessKeyId: ("InvalidAccessKeyId", 403),
    e.RequestTimeTooSkewed: ("RequestTimeTooSkewed", 403),
    e.ExpiredToken: ("ExpiredToken", 400),
    e.InvalidToken: ("InvalidToken", 400),
    e.AuthorizationHeaderMalformed: ("AuthorizationHeaderMalformed", 400),
    e.AuthorizationQueryParametersError: ("AuthorizationQueryParametersError", 400),
    e.XAmzContentSHA256Mismatch: ("XAmzContentSHA256Mismatch", 400),
    e.BadDigest: ("BadDigest", 400),
    e.InvalidDigest: ("InvalidDigest", 400),
    e.IncompleteBody: ("IncompleteBody", 400),
    e.InvalidRequest: ("InvalidRequest", 400),
    e.InvalidArgument: ("InvalidArgument", 400),
    e.EntityTooLarge: ("EntityTooLarge", 400),
    e.MissingContentLength: ("MissingContentLength", 411),
    e.NotImplementedS3: ("NotImplemented", 501),
    e.PreconditionFailed: ("PreconditionFailed", 412),
    e.ConditionalRequestConflict: ("ConditionalRequestConflict", 409),
    e.NoSuchKey: ("NoSuchKey", 404),
    e.NoSuchBucket: ("NoSuchBucket", 404),
    e.MethodNotAllowed: ("MethodNotAllowed", 405),
    e.InvalidRange: ("InvalidRange", 416),
    e.InternalError: ("InternalError", 500),
    e.ServiceUnavailable: ("ServiceUnavailable", 503),
}


@pytest.mark.parametrize(("cls", "expected"), S3_STATUSES.items(), ids=lambda v: str(v))
def test_each_error_has_s3s_code_and_status(cls, expected) -> None:
    """Every error class answers with the code and HTTP status S3 uses for it."""
    error = cls()
    assert (error.code, error.status) == expected
    assert error.message


def test_error_renders_as_s3_xml_in_order() -> None:
    """The body is <Error> with Code, Message, extra fields, Resource and RequestId, in order."""
    error = e.SignatureDoesNotMatch(AWSAccessKeyId="AKID", StringToSign="AWS4-HMAC-SHA256\n...")
    body = render_error(error, resource="/s3/tfstate/proj/terraform.tfstate", request_id="r-1")
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error>')
    root = ET.fromstring(body)
    assert [child.tag for child in root] == [
        "Code", "Message", "AWSAccessKeyId", "StringToSign", "Resource", "RequestId",
    ]  # fmt: skip
    assert root.findtext("Code") == "SignatureDoesNotMatch"
    assert root.findtext("StringToSign") == "AWS4-HMAC-SHA256\n..."
    assert root.findtext("Resource") == "/s3/tfstate/proj/terraform.tfstate"
    assert root.findtext("RequestId") == "r-1"


@given(st.text())
def test_any_message_renders_as_well_formed_xml(text: str) -> None:
    """Whatever a message quotes (markup, control characters), the body stays parseable."""
    body = render_error(e.InvalidArgument(text, ArgumentValue=text), resource=text, request_id="r")
    root = ET.fromstring(body)
    assert root.findtext("Code") == "InvalidArgument"


def test_request_from_asgi_scope_keeps_the_raw_path_and_repeats() -> None:
    """An ASGI scope becomes an S3Request with the undecoded path and every header value."""
    scope = {
        "type": "http",
        "method": "PUT",
        "path": "/s3/tfstate/env:/dev/a b",
        "raw_path": b"/s3/tfstate/env%3A/dev/a%20b",
        "query_string": b"x-id=PutObject",
        "headers": [(b"host", b"h"), (b"x-amz-meta-a", b"1"), (b"X-Amz-Meta-A", b"2")],
    }
    request = S3Request.from_scope(scope)
    assert request.raw_path == "/s3/tfstate/env%3A/dev/a%20b"
    assert request.raw_query == "x-id=PutObject"
    assert request.values("x-amz-meta-a") == ["1", "2"]
    with pytest.raises(e.InvalidArgument):
        request.header("X-Amz-Meta-A")
