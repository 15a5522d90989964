"""S3's own errors: the codes, statuses and XML body that S3 clients understand.

The S3-compatible surface answers every failure the way S3 does, so an SDK
(Terraform's aws-sdk-go, boto3) shows its user the familiar code and does not
retry what cannot succeed. One class per code; the class carries the status,
an instance carries the message and any extra fields S3 puts in the body
(``<StringToSign>`` on a signature mismatch, ``<ServerTime>`` on a skewed
clock) so a client can see what the server computed. Statuses follow S3's
error-code table (``ExpiredToken`` and ``InvalidToken`` are 400 there).

These are protocol errors of one front end, not domain errors: the S3 routes
translate ``TacoError``\\ s (a held lock, a missing unit) into these in one place
and render them with ``render_error``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import ClassVar

# Characters XML 1.0 cannot carry, even escaped; a message may quote what a
# client sent, and the error body must stay well-formed whatever that was.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class S3Error(Exception):
    """An S3 error response: ``code`` and ``status`` per class, a message and extra fields."""

    code: ClassVar[str] = "InternalError"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "We encountered an internal error. Please try again."

    def __init__(self, message: str | None = None, **details: str) -> None:
        self.message = message if message is not None else self.default_message
        self.details: tuple[tuple[str, str], ...] = tuple(details.items())
        super().__init__(f"{self.code}: {self.message}")


class InternalError(S3Error):
    pass


class AccessDenied(S3Error):
    code = "AccessDenied"
    status = 403
    default_message = "Access Denied"


class SignatureDoesNotMatch(S3Error):
    code = "SignatureDoesNotMatch"
    status = 403
    default_message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method."
    )


class InvalidAccessKeyId(S3Error):
    code = "InvalidAccessKeyId"
    status = 403
    default_message = "The AWS Access Key Id you provided does not exist in our records."


class RequestTimeTooSkewed(S3Error):
    code = "RequestTimeTooSkewed"
    status = 403
    default_message = "The difference between the request time and the current time is too large."


class ExpiredToken(S3Error):
    code = "ExpiredToken"
    status = 400
    default_message = "The provided token has expired."


class InvalidToken(S3Error):
    code = "InvalidToken"
    status = 400
    default_message = "The provided token is malformed or otherwise invalid."


class AuthorizationHeaderMalformed(S3Error):
    code = "AuthorizationHeaderMalformed"
    status = 400
    default_message = "The authorization header you provided is invalid."


class AuthorizationQueryParametersError(S3Error):
    code = "AuthorizationQueryParametersError"
    status = 400
    default_message = "The authorization query parameters you provided are invalid."


class InvalidArgument(S3Error):
    code = "InvalidArgument"
    status = 400
    default_message = "Invalid Argument"


class InvalidRequest(S3Error):
    code = "InvalidRequest"
    status = 400
    default_message = "Invalid Request"


class XAmzContentSHA256Mismatch(S3Error):
    code = "XAmzContentSHA256Mismatch"
    status = 400
    default_message = "The provided 'x-amz-content-sha256' header does not match what was computed."


class BadDigest(S3Error):
    code = "BadDigest"
    status = 400
    default_message = "The Content-MD5 you specified did not match what we received."


class InvalidDigest(S3Error):
    code = "InvalidDigest"
    status = 400
    default_message = "The Content-MD5 you specified is not valid."


class IncompleteBody(S3Error):
    code = "IncompleteBody"
    status = 400
    default_message = "You did not provide the number of bytes specified by the Content-Length."


class EntityTooLarge(S3Error):
    code = "EntityTooLarge"
    status = 400
    default_message = "Your proposed upload exceeds the maximum allowed object size."


class MissingContentLength(S3Error):
    code = "MissingContentLength"
    status = 411
    default_message = "You must provide the Content-Length HTTP header."


class NotImplementedS3(S3Error):
    """S3's ``NotImplemented`` (named so as not to shadow Python's ``NotImplemented``)."""

    code = "NotImplemented"
    status = 501
    default_message = "A header you provided implies functionality that is not implemented."


class PreconditionFailed(S3Error):
    code = "PreconditionFailed"
    status = 412
    default_message = "At least one of the pre-conditions you specified did not hold"


class ConditionalRequestConflict(S3Error):
    code = "ConditionalRequestConflict"
    status = 409
    default_message = (
        "A conflicting operation occurred. If using PutObject you can retry the request."
    )


class NoSuchKey(S3Error):
    code = "NoSuchKey"
    status = 404
    default_message = "The specified key does not exist."


class NoSuchBucket(S3Error):
    code = "NoSuchBucket"
    status = 404
    default_message = "The specified bucket does not exist"


class InvalidBucketName(S3Error):
    code = "InvalidBucketName"
    status = 400
    default_message = "The specified bucket is not valid."


class NoSuchUpload(S3Error):
    code = "NoSuchUpload"
    status = 404
    default_message = (
        "The specified multipart upload does not exist. The upload ID might be invalid, "
        "or the multipart upload might have been aborted or completed."
    )


class InvalidPart(S3Error):
    code = "InvalidPart"
    status = 400
    default_message = (
        "One or more of the specified parts could not be found. The part might not have "
        "been uploaded, or the specified entity tag might not have matched the part's "
        "entity tag."
    )


class InvalidPartOrder(S3Error):
    code = "InvalidPartOrder"
    status = 400
    default_message = (
        "The list of parts was not in ascending order. Parts must be ordered by part number."
    )


class EntityTooSmall(S3Error):
    code = "EntityTooSmall"
    status = 400
    default_message = "Your proposed upload is smaller than the minimum allowed object size."


class MalformedXML(S3Error):
    code = "MalformedXML"
    status = 400
    default_message = (
        "The XML you provided was not well-formed or did not validate against our published schema."
    )


class MethodNotAllowed(S3Error):
    code = "MethodNotAllowed"
    status = 405
    default_message = "The specified method is not allowed against this resource."


class InvalidRange(S3Error):
    code = "InvalidRange"
    status = 416
    default_message = "The requested range is not satisfiable"


class ServiceUnavailable(S3Error):
    code = "ServiceUnavailable"
    status = 503
    default_message = "Please reduce your request rate."


def render_error(error: S3Error, *, resource: str, request_id: str) -> bytes:
    """The S3 XML body for ``error``: ``<Error><Code/><Message/>…<Resource/><RequestId/></Error>``.

    ``resource`` is the bucket or key path the request named; extra fields of
    the error come between the message and the resource, as S3 orders them.
    """
    root = ET.Element("Error")
    fields: list[tuple[str, str]] = [("Code", error.code), ("Message", error.message)]
    fields += error.details
    fields += [("Resource", resource), ("RequestId", request_id)]
    for name, text in fields:
        ET.SubElement(root, name).text = _NOT_XML.sub("?", text)
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode()
