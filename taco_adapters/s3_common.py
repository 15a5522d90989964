"""How both S3 adapters talk to S3: the client, conditional reads and writes,
the translation of botocore's errors, and bounded fan-out.

``taco_adapters.s3`` (states) and ``taco_adapters.s3_auth`` (credentials) keep
different objects in the same bucket, but they must agree on how S3 answers:
which 404 is a missing object and which a missing bucket, which answers mean a
conditional write lost, and how a vendor error becomes ``StorageUnavailable``.
Keeping those rules here means a fix for one S3 implementation's quirk reaches
both stores.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import aiohttp
import anyio
from aiobotocore.session import AioSession, get_session  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from taco_core.errors import StorageUnavailable
from taco_core.model import Payload

T = TypeVar("T")

# Everything OpenTaco writes to a bucket is JSON: records, lock objects and
# Terraform states alike.
_JSON = "application/json"


class PreconditionFailed(Exception):
    """A conditional write or delete lost: the object is not what the caller
    read (``If-Match``) or is no longer absent (``If-None-Match: *``)."""


@contextlib.contextmanager
def vendor_errors(action: str) -> Iterator[None]:
    """Translate botocore and aiohttp errors at the edge so no vendor type reaches
    the core; the message names the request so an operator can find the cause."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "unknown")
        message = error.get("Message", "")
        raise StorageUnavailable(f"S3 {action} failed: {code} {message}".rstrip()) from exc
    except (BotoCoreError, aiohttp.ClientError, TimeoutError) as exc:
        raise StorageUnavailable(f"S3 {action} failed: {exc}") from exc


def error_status(exc: ClientError) -> int:
    """The HTTP status S3 answered with (0 when the error carries none)."""
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def error_code(exc: ClientError) -> str:
    """S3's error code (``NoSuchKey``, ``PreconditionFailed`` ...), or ``""``."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_missing(exc: ClientError) -> bool:
    """The object is not there. A missing bucket is a misconfiguration, not a
    missing object, so it is not reported as one."""
    return error_status(exc) == 404 and error_code(exc) != "NoSuchBucket"


def is_precondition(exc: ClientError) -> bool:
    """A conditional request lost. Besides 412, AWS answers 409
    ``ConditionalRequestConflict`` while a racing conditional write to the same
    key is still in flight; either way ours did not happen."""
    return error_status(exc) == 412 or error_code(exc) in (
        "PreconditionFailed",
        "ConditionalRequestConflict",
    )


def client_config(endpoint_url: str | None) -> Config:
    """botocore settings for the stores' clients: standard retries (throttling and
    5xx are retried with backoff); path-style addressing for S3-compatible
    endpoints, which rarely serve virtual-host bucket names."""
    return Config(
        retries={"mode": "standard"},
        s3={"addressing_style": "path"} if endpoint_url else None,
    )


async def open_client(
    stack: contextlib.AsyncExitStack,
    *,
    region: str | None,
    endpoint_url: str | None,
    session: AioSession | None,
) -> Any:
    """A new aiobotocore S3 client, closed with ``stack``.

    Call it inside the event loop that will use the client (aiobotocore binds
    its connection pool to that loop). Without ``session``, credentials come
    from the standard AWS chain.
    """
    session = session or get_session()
    return await stack.enter_async_context(
        session.create_client(
            "s3",
            region_name=region,
            endpoint_url=endpoint_url,
            config=client_config(endpoint_url),
        )
    )


async def get_object(client: Any, bucket: str, key: str) -> tuple[Mapping[str, Any], bytes] | None:
    """GET ``key``: the response (ETag, metadata ...) and the whole body, or
    ``None`` when there is no such object."""
    with vendor_errors(f"GetObject s3://{bucket}/{key}"):
        try:
            resp = await client.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
        async with resp["Body"] as stream:
            body = await stream.read()
        return resp, bytes(body)


async def put_object(
    client: Any,
    bucket: str,
    key: str,
    body: Payload,
    *,
    if_match: str | None = None,
    if_absent: bool = False,
    metadata: Mapping[str, str] | None = None,
) -> str:
    """PUT ``key`` as JSON and return its new ETag. With ``if_match`` only if it
    is still that object, with ``if_absent`` only if there is none; else
    ``PreconditionFailed``."""
    args: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": body, "ContentType": _JSON}
    if if_match is not None:
        args["IfMatch"] = if_match
    if if_absent:
        args["IfNoneMatch"] = "*"
    if metadata:
        args["Metadata"] = dict(metadata)
    with vendor_errors(f"PutObject s3://{bucket}/{key}"):
        try:
            resp = await client.put_object(**args)
        except ClientError as exc:
            # AWS answers If-Match on a missing key with 404, SeaweedFS with 412.
            if is_precondition(exc) or (if_match is not None and is_missing(exc)):
                raise PreconditionFailed(key) from exc
            raise
        return str(resp.get("ETag", ""))


class FanOut:
    """Runs batches of requests concurrently, at most ``width`` at a time:
    one round trip for many small objects instead of one per object, without
    opening more connections than botocore's pool holds (10 by default)."""

    def __init__(self, width: int) -> None:
        self._limiter = anyio.CapacityLimiter(width)

    async def __call__(self, calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        """Run ``calls``; their results in the order of ``calls``. The first
        error is raised as itself. The calls must not use this same fan-out:
        holding every slot while waiting for another would deadlock."""
        results: list[Any] = [None] * len(calls)

        async def run(i: int) -> None:
            async with self._limiter:
                results[i] = await calls[i]()

        async with first_error(), anyio.create_task_group() as tg:
            for i in range(len(calls)):
                tg.start_soon(run, i)
        return results


@contextlib.asynccontextmanager
async def first_error() -> AsyncIterator[None]:
    """Unwrap a task group's ExceptionGroup so callers see the domain error
    (``UnitNotFound``, ``StorageUnavailable`` ...) the port promises."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaf: BaseException = group
        while isinstance(leaf, BaseExceptionGroup):
            leaf = leaf.exceptions[0]
        raise leaf from None
