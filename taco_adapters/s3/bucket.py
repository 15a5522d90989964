"""One S3 bucket as both S3 stores use it: the client, the bucket check, the
conditional reads and writes, the translation of botocore's errors, and
bounded fan-out.

The states store (``state_store``) and the auth store (``auth_store``) keep
different objects in the same bucket, but they must agree on how S3 answers:
which 404 is a missing object and which a missing bucket, which answers mean a
conditional write lost, and how a vendor error becomes ``StorageUnavailable``.
``S3Bucket`` is the only code that talks to the client, so a fix for one S3
implementation's quirk reaches both stores, and ``opentacosvc`` opens one
client and checks the bucket once for both.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self, TypeVar

import aiohttp
import anyio
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from attrs import frozen
from botocore.exceptions import BotoCoreError, ClientError

from taco_core.errors import StorageUnavailable
from taco_core.model import Payload

if TYPE_CHECKING:
    # Types only (types-aiobotocore-s3): nothing of it is needed to run.
    from types_aiobotocore_s3 import S3Client

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")

_log = logging.getLogger(__name__)

# Everything OpenTaco writes to a bucket is JSON: records, lock objects and
# Terraform states alike.
_JSON = "application/json"


class NotModified(Exception):
    """A conditional GET found the object unchanged (``If-None-Match``)."""


class PreconditionFailed(Exception):
    """A conditional write or delete lost: the object is not what the caller
    read (``If-Match``) or is no longer absent (``If-None-Match: *``)."""


@frozen
class S3Object:
    """What a HEAD, GET or listing tells about one object. ``metadata`` is
    ``None`` when unknown (listings do not return it), ``body`` unless read."""

    key: str
    etag: str
    size: int
    last_modified: datetime
    metadata: Mapping[str, str] | None = None
    body: bytes | None = None


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


# How long to wait for S3 to accept a connection, or between two pieces of
# its answer, before the attempt fails (botocore's own default is a minute).
DEFAULT_TIMEOUT = 10.0
# Every request is tried at most this often: a retry after throttling, a 5xx
# or a timeout, and no more, so a hung S3 costs a caller about twice the
# timeout rather than minutes.
ATTEMPTS = 2


def client_config(endpoint_url: str | None, timeout: float = DEFAULT_TIMEOUT) -> AioConfig:
    """botocore settings for the stores' clients: connect and read timeouts of
    ``timeout`` seconds and a bounded retry budget (``ATTEMPTS``, with
    backoff); path-style addressing for S3-compatible endpoints, which rarely
    serve virtual-host bucket names."""
    return AioConfig(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        s3={"addressing_style": "path"} if endpoint_url else None,
    )


def _utc(value: datetime) -> datetime:
    # Whole seconds: a listing reports milliseconds, a HEAD only seconds, and a
    # unit must not change its timestamps depending on which call read it.
    return value.astimezone(UTC).replace(microsecond=0)


def _object(key: str, resp: Mapping[str, Any], body: bytes | None) -> S3Object:
    return S3Object(
        key=key,
        etag=str(resp.get("ETag", "")),
        size=int(resp.get("ContentLength", len(body or b""))),
        last_modified=_utc(resp["LastModified"]),
        metadata={k.lower(): v for k, v in resp.get("Metadata", {}).items()},
        body=body,
    )


class S3Bucket:
    """One bucket through one aiobotocore client.

    Build it with ``open`` (which creates and owns the client, inside the
    running event loop, and checks the bucket), or pass a client you own.
    """

    def __init__(
        self,
        name: str,
        *,
        client: S3Client,
        region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.name = name
        self.region = region
        self.endpoint_url = endpoint_url
        self._client = client
        self._stack = contextlib.AsyncExitStack()
        self._conditional_delete = True

    @classmethod
    async def open(
        cls,
        name: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        session: AioSession | None = None,
        io_timeout: float = DEFAULT_TIMEOUT,
    ) -> Self:
        """A new client for ``name`` (credentials from ``session``, by default
        the standard AWS chain; ``io_timeout`` as ``client_config`` takes it),
        closed by ``aclose``, and the bucket proved usable. aiobotocore binds
        its connection pool to the running event loop, so call this inside
        the loop that will use the bucket.

        ``StorageUnavailable`` names the bucket, the endpoint and the fix when
        the bucket cannot be used: a service must refuse to start rather than
        serve from nowhere, and tokens must never silently go elsewhere.
        """
        stack = contextlib.AsyncExitStack()
        try:
            session = session or get_session()
            client = await stack.enter_async_context(
                session.create_client(
                    "s3",
                    region_name=region,
                    endpoint_url=endpoint_url,
                    config=client_config(endpoint_url, io_timeout),
                )
            )
            bucket = cls(name, client=client, region=region, endpoint_url=endpoint_url)
            bucket._stack = stack
            await bucket.check()
        except BaseException:
            await stack.aclose()
            raise
        return bucket

    async def aclose(self) -> None:
        """Close the client if ``open`` created it."""
        await self._stack.aclose()

    async def check(self) -> None:
        """Prove the bucket is there and ours to use, or say what to fix."""
        where = f"bucket {self.name!r} at {self.endpoint_url or 'AWS'}"
        if self.region:
            where += f" (region {self.region})"
        try:
            await self._client.head_bucket(Bucket=self.name)
        except ClientError as exc:
            status = error_status(exc)
            if status == 404:
                fix = "create it or fix the bucket name"
            elif status in (401, 403):
                fix = "check the AWS credentials and that they may use this bucket"
            elif status == 301:
                fix = "the bucket is in another region; set the region it is in"
            else:
                fix = f"the server answered {status} {error_code(exc)}"
            raise StorageUnavailable(f"cannot use S3 {where}: {fix}") from exc
        except (BotoCoreError, aiohttp.ClientError, TimeoutError) as exc:
            raise StorageUnavailable(f"cannot use S3 {where}: {exc}") from exc

    async def ping(self) -> None:
        """One cheap round trip (readiness)."""
        with vendor_errors(f"HeadBucket {self.name}"):
            await self._client.head_bucket(Bucket=self.name)

    async def get(self, key: str, *, unless_etag: str | None = None) -> S3Object | None:
        """GET ``key`` with its whole body, or ``None`` when there is no such
        object. With ``unless_etag``, a conditional GET: ``NotModified`` when
        the object still has that ETag (no body crosses the network)."""
        args: dict[str, Any] = {"Bucket": self.name, "Key": key}
        if unless_etag is not None:
            args["IfNoneMatch"] = unless_etag
        with vendor_errors(f"GetObject s3://{self.name}/{key}"):
            try:
                resp = await self._client.get_object(**args)
            except ClientError as exc:
                if is_missing(exc):
                    return None
                if unless_etag is not None and error_status(exc) == 304:
                    raise NotModified(key) from None
                raise
            async with resp["Body"] as stream:
                body = await stream.read()
            return _object(key, resp, bytes(body))

    async def stream(self, key: str) -> tuple[S3Object, ObjectStream] | None:
        """GET ``key`` without reading its body: the object's description and
        a stream of its bytes (close it), or ``None`` when there is no such
        object."""
        with vendor_errors(f"GetObject s3://{self.name}/{key}"):
            try:
                resp = await self._client.get_object(Bucket=self.name, Key=key)
            except ClientError as exc:
                if is_missing(exc):
                    return None
                raise
        return _object(key, resp, None), ObjectStream(key, resp["Body"])

    async def head(self, key: str) -> S3Object | None:
        """HEAD ``key`` (its metadata too), or ``None`` when there is no such object."""
        with vendor_errors(f"HeadObject s3://{self.name}/{key}"):
            try:
                resp = await self._client.head_object(Bucket=self.name, Key=key)
            except ClientError as exc:
                if is_missing(exc):
                    return None
                raise
            return _object(key, resp, None)

    async def put(
        self,
        key: str,
        body: Payload,
        *,
        if_match: str | None = None,
        if_absent: bool = False,
        metadata: Mapping[str, str] | None = None,
        content_type: str = _JSON,
    ) -> str:
        """PUT ``key`` (JSON unless told) and return its new ETag. With
        ``if_match`` only if it is still that object, with ``if_absent`` only
        if there is none; else ``PreconditionFailed``."""
        args: dict[str, Any] = {
            "Bucket": self.name,
            "Key": key,
            "Body": body,
            "ContentType": content_type,
        }
        if if_match is not None:
            args["IfMatch"] = if_match
        if if_absent:
            args["IfNoneMatch"] = "*"
        if metadata:
            args["Metadata"] = dict(metadata)
        with vendor_errors(f"PutObject s3://{self.name}/{key}"):
            try:
                resp = await self._client.put_object(**args)
            except ClientError as exc:
                # AWS answers If-Match on a missing key with 404, SeaweedFS with 412.
                if is_precondition(exc) or (if_match is not None and is_missing(exc)):
                    raise PreconditionFailed(key) from exc
                raise
            return str(resp.get("ETag", ""))

    async def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete ``key`` (a missing key is fine). ``if_match`` deletes only that
        object, else ``PreconditionFailed`` (also when it is gone already);
        stores that do not implement conditional deletes get a plain one."""
        with vendor_errors(f"DeleteObject s3://{self.name}/{key}"):
            if if_match is not None and self._conditional_delete:
                try:
                    await self._client.delete_object(Bucket=self.name, Key=key, IfMatch=if_match)
                    return
                except ClientError as exc:
                    if is_precondition(exc) or is_missing(exc):
                        raise PreconditionFailed(key) from exc
                    if error_status(exc) != 501 and error_code(exc) != "NotImplemented":
                        raise
                    _log.info(
                        "s3 store: %s has no conditional delete; unlocks use plain deletes",
                        self.endpoint_url or "S3",
                    )
                    self._conditional_delete = False
            await self._client.delete_object(Bucket=self.name, Key=key)

    async def list(
        self,
        prefix: str,
        *,
        page_size: int,
        skip: Callable[[str], str | None] | None = None,
        start_after: str | None = None,
    ) -> AsyncIterator[S3Object]:
        """Every object under ``prefix``, in key order, ``page_size`` keys per
        request; with ``start_after``, only the keys greater than it. ``skip``,
        given the last key of a page that is not the last, may name a key to
        continue after instead of the next page: how a listing jumps past
        folders it does not need."""
        args: dict[str, Any] = {"Bucket": self.name, "Prefix": prefix, "MaxKeys": page_size}
        if start_after:
            args["StartAfter"] = start_after
        while True:
            with vendor_errors(f"ListObjectsV2 s3://{self.name}/{prefix}"):
                resp = await self._client.list_objects_v2(**args)
            contents = resp.get("Contents", [])
            for item in contents:
                yield S3Object(
                    key=item["Key"],
                    etag=str(item.get("ETag", "")),
                    size=int(item.get("Size", 0)),
                    last_modified=_utc(item["LastModified"]),
                )
            if not resp.get("IsTruncated"):
                return
            args.pop("ContinuationToken", None)
            args.pop("StartAfter", None)
            jump = skip(contents[-1]["Key"] if contents else "") if skip else None
            if jump is not None:
                args["StartAfter"] = jump
            else:
                args["ContinuationToken"] = resp["NextContinuationToken"]


class ObjectStream:
    """The body of one GET, read a slice at a time (``S3Bucket.stream``)."""

    def __init__(self, key: str, body: Any) -> None:
        self._key = key
        self._body = body
        self._closed = False

    async def read(self, limit: int) -> bytes:
        """Up to ``limit`` next bytes; ``b""`` at the end."""
        if self._closed:
            return b""
        with vendor_errors(f"GetObject s3://{self._key}"):
            chunk: bytes = await self._body.read(limit)
        return chunk

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._body.close()


class BucketStore:
    """A store on an ``S3Bucket`` under a key prefix, which closes the bucket
    only if it opened it.

    Build it with ``open`` (which creates and owns a client and checks the
    bucket, so a store that cannot be used is ``StorageUnavailable`` naming
    the bucket, the endpoint and the fix), or on an ``S3Bucket`` you open and
    close, which other stores may share.
    """

    def __init__(self, bucket: S3Bucket, *, prefix: str = "") -> None:
        self._s3 = bucket
        self._owned: S3Bucket | None = None
        self.bucket = bucket.name
        self.prefix = prefix.strip("/")

    @classmethod
    async def open(
        cls,
        bucket: str,
        *,
        prefix: str = "",
        region: str | None = None,
        endpoint_url: str | None = None,
        session: AioSession | None = None,
        io_timeout: float = DEFAULT_TIMEOUT,
    ) -> Self:
        """A store on a bucket of its own (``S3Bucket.open``), closed by ``aclose``."""
        opened = await S3Bucket.open(
            bucket,
            region=region,
            endpoint_url=endpoint_url,
            session=session,
            io_timeout=io_timeout,
        )
        store = cls(opened, prefix=prefix)
        store._owned = opened
        return store

    async def aclose(self) -> None:
        """Close the client if ``open`` made one."""
        if self._owned is not None:
            await self._owned.aclose()


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


async def both(a: Awaitable[A], b: Awaitable[B]) -> tuple[A, B]:
    """Await two requests concurrently: one round trip instead of two."""
    results: list[Any] = [None, None]

    async def run(i: int, aw: Awaitable[Any]) -> None:
        results[i] = await aw

    async with first_error(), anyio.create_task_group() as tg:
        tg.start_soon(run, 0, a)
        tg.start_soon(run, 1, b)
    return results[0], results[1]


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
