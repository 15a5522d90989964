"""The S3-compatible endpoint under ``/s3``: Terraform's ``s3`` backend, and S3 tools, over units.

Path-style only: ``/s3/<bucket>/<key>``. Every request is authenticated by
its SigV4 signature, verified before anything else is looked at (the body
included) with credentials from ``taco creds``; one that does not verify
never reaches the core. The signer's principal is then the ``Caller`` of
every use case, so RBAC, history and the audit trail treat an S3 write like
any other. Buckets and keys map to units as ``mapping`` says.

Operations served (what Terraform 1.0.3 and 1.15.5 and the usual S3 tools
need): GetObject (with ``Range``), HeadObject, PutObject, DeleteObject,
ListObjectsV2 and ListObjects, HeadBucket, and multipart uploads. Query
parameters that only name the operation (``x-id``) or carry a presigned
signature are ignored; any other subresource (``?acl``, ``?tagging``,
``?versioning`` ...), bucket creation or deletion, and copies are S3's
``501 NotImplemented``. Every failure is S3's XML error (an empty body for
HEAD), never a bare 500.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import unquote, unquote_plus

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from taco_core.errors import TacoError
from taco_core.model import Surface
from taco_http.auth import REQUEST_ID_KEY, caller_in
from taco_http.context import services_in
from taco_http.s3_endpoint import listing, multipart, objects
from taco_http.s3_endpoint.call import S3Call
from taco_http.s3_endpoint.credentials import TacoCredentials
from taco_http.s3_endpoint.errors import s3_error_of
from taco_http.s3_endpoint.mapping import Buckets, ObjectRef
from taco_http.s3_endpoint.xml import XML_TYPE
from taco_http.s3api import S3Error, S3Request, SigV4Verifier, render_error
from taco_http.s3api.errors import (
    ExpiredToken,
    InternalError,
    InvalidArgument,
    MethodNotAllowed,
    NotImplementedS3,
)
from taco_http.telemetry import AUTH_FAILURE_KEY

log = logging.getLogger("opentaco.s3")

PREFIX = "/s3"

# Query parameters that carry a presigned signature or only name the
# operation (aws-sdk-go-v2's ``x-id=PutObject``): they select nothing.
_PRESIGNED = frozenset(
    {
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
    }
)
_LISTING = frozenset(
    {
        "list-type",
        "prefix",
        "delimiter",
        "max-keys",
        "continuation-token",
        "start-after",
        "fetch-owner",
        "encoding-type",
        "marker",
    }
)


def _selects(name: str) -> bool:
    """Whether query parameter ``name`` selects an operation or subresource."""
    return not (name == "x-id" or name in _PRESIGNED or name.startswith("response-"))


def _split(raw_path: str) -> tuple[str | None, str | None]:
    """Bucket and key of a path under ``/s3``, percent-decoded."""
    rest = raw_path[len(PREFIX) :].removeprefix("/")
    bucket_part, _, key_part = rest.partition("/")
    try:
        bucket = unquote(bucket_part, errors="strict") or None
        key = unquote(key_part, errors="strict") or None
    except UnicodeDecodeError:
        raise InvalidArgument("The path is not valid percent-encoded UTF-8.") from None
    return bucket, key


def _not_implemented(what: str) -> NotImplementedS3:
    return NotImplementedS3(
        f"{what} is not implemented: OpenTaco's S3 endpoint serves Terraform states "
        "(GetObject, HeadObject, PutObject, DeleteObject, ListObjects, multipart uploads)."
    )


class S3Endpoint:
    """The ASGI app behind ``/s3`` and ``/s3/{path}`` (every method)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = str(scope.get(REQUEST_ID_KEY) or secrets.token_hex(8).upper())
        request = S3Request.from_scope(scope)
        try:
            response = await self._serve(scope, receive, request, request_id)
        except ClientDisconnect:
            # The client left mid-upload: nothing was stored, and nobody is
            # there to answer.
            return
        except S3Error as exc:
            response = _error_response(exc, request, request_id)
        except TacoError as exc:
            response = _error_response(s3_error_of(exc), request, request_id)
        except Exception:
            log.exception("S3 endpoint: %s %s failed", request.method, request.raw_path)
            response = _error_response(InternalError(), request, request_id)
        response.headers["x-amz-request-id"] = request_id
        await response(scope, receive, send)

    async def _serve(
        self, scope: Scope, receive: Receive, request: S3Request, request_id: str
    ) -> Response:
        services = services_in(scope)
        verifier = SigV4Verifier(TacoCredentials(services.s3_credentials), services.states.clock)
        try:
            verified = await verifier.verify(request)
        except S3Error as exc:
            # Not authenticated (a storage failure is a TacoError, not this):
            # counted with the refused credentials of the other surfaces.
            expired = isinstance(exc, ExpiredToken)
            scope[AUTH_FAILURE_KEY] = "s3_expired" if expired else "s3"
            raise
        bucket, key = _split(request.raw_path)
        query: dict[str, str] = {}
        for name, value in _query_pairs(request.raw_query):
            query[name] = value
        call = S3Call(
            services=services,
            request=request,
            verified=verified,
            caller=caller_in(scope, verified.principal, Surface.S3_ENDPOINT),
            query=query,
            body=Request(scope, receive).stream(),
            buckets=Buckets(services.settings.s3_root_bucket),
            request_id=request_id,
        )
        if bucket is None:
            raise _not_implemented("ListBuckets")
        if key is None:
            return await _bucket_operation(call, bucket)
        return await _object_operation(call, call.buckets.locate(bucket, key))


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    # Decoded as S3 decodes it; the verifier has already refused bad encodings.
    pairs = []
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


async def _bucket_operation(call: S3Call, bucket: str) -> Response:
    call.buckets.namespace(bucket)  # InvalidBucketName for a name that holds no units
    method = call.request.method
    selected = sorted(name for name in call.query if _selects(name))
    if method == "GET":
        unknown = [name for name in selected if name not in _LISTING]
        if unknown:
            raise _not_implemented(f"GET ?{unknown[0]} on a bucket")
        return await listing.list_objects(call, bucket)
    if selected:
        raise _not_implemented(f"{method} ?{selected[0]} on a bucket")
    if method == "HEAD":
        return Response(status_code=200, headers={"x-amz-bucket-region": call.verified.region})
    if method in ("PUT", "DELETE"):
        raise _not_implemented(
            "Creating or deleting a bucket (buckets are namespaces of units, always there)"
        )
    if method == "POST":
        raise _not_implemented("POST on a bucket (DeleteObjects)")
    raise MethodNotAllowed(Method=method, ResourceType="BUCKET")


async def _object_operation(call: S3Call, ref: ObjectRef) -> Response:
    method = call.request.method
    selected = frozenset(name for name in call.query if _selects(name))
    copy = call.request.header("x-amz-copy-source") is not None
    if method in ("GET", "HEAD") and not selected:
        return await objects.get_object(call, ref, head=method == "HEAD")
    if method == "PUT" and not selected and not copy:
        return await objects.put_object(call, ref)
    if method == "PUT" and selected == {"partNumber", "uploadId"} and not copy:
        return await multipart.upload_part(call, ref)
    if method == "DELETE" and not selected:
        return await objects.delete_object(call, ref)
    if method == "DELETE" and selected == {"uploadId"}:
        return await multipart.abort_upload(call, ref)
    if method == "POST" and selected == {"uploads"}:
        return await multipart.create_upload(call, ref)
    if method == "POST" and selected == {"uploadId"}:
        return await multipart.complete_upload(call, ref)
    if method not in ("GET", "HEAD", "PUT", "DELETE", "POST"):
        raise MethodNotAllowed(Method=method, ResourceType="OBJECT")
    if copy:
        raise _not_implemented("Copying objects")
    what = " ".join(f"?{name}" for name in sorted(selected))
    raise _not_implemented(f"{method} {what} on an object".replace("  ", " "))


def _error_response(error: S3Error, request: S3Request, request_id: str) -> Response:
    # botocore (boto3, the AWS CLI) never hands a connection back to its pool
    # after an error answer; closing it here keeps it from lingering half-open.
    # The body of a refused upload may also be partly unread.
    headers = {"Connection": "close"}
    if request.method == "HEAD":
        # A HEAD answer has no body; the status says it all.
        return Response(status_code=error.status, headers=headers)
    resource = request.raw_path[len(PREFIX) :] or "/"
    body = render_error(error, resource=resource, request_id=request_id)
    return Response(body, status_code=error.status, media_type=XML_TYPE, headers=headers)
