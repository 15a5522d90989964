"""Sending states: validators, conditional GETs and large states without copies.

Every state answer carries a strong ``ETag``, the SHA-256 of the bytes it
sends (for an outputs-only reader, of the redacted bytes), so a client that
holds those bytes asks with ``If-None-Match`` and gets ``304`` without them.

A ``Response(body)`` hands the whole body to the transport at once; whatever
the socket does not take immediately is copied into the transport's buffer,
a second copy of a 100 MB state. Sending slices (of the one buffer, or as a
store streams them) and letting the server wait for the socket (flow
control) between them keeps one copy, or none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from taco_core.content import StateReader
from taco_core.model import Payload, StateVersion

SLICE = 1024 * 1024


def etag_of(version: StateVersion) -> str:
    """The strong entity tag of a version's bytes."""
    return f'"{version.sha256}"'


def matches(request: Request, etag: str) -> bool:
    """Does ``If-None-Match`` name ``etag`` (or ``*``)? Weak comparison, as
    RFC 9110 asks of ``If-None-Match``."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    for candidate in header.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


async def state_answer(
    request: Request,
    version: StateVersion,
    reader: StateReader,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """200 with the state ``reader`` holds (or streams), or 304 when the
    client has these bytes already. Closes ``reader`` once sent."""
    etag = etag_of(version)
    if matches(request, etag):
        await reader.aclose()
        return Response(status_code=304, headers={"ETag": etag})
    sent = {**(headers or {}), "ETag": etag}
    if reader.whole is not None:
        return state_response(reader.whole, sent)

    async def slices() -> AsyncIterator[bytes]:
        try:
            while chunk := await reader.read(SLICE):
                yield chunk
        finally:
            await reader.aclose()

    return StreamingResponse(
        slices(),
        media_type="application/json",
        headers={**sent, "Content-Length": str(reader.size)},
        # Also when the client goes away before the end (closing is idempotent).
        background=BackgroundTask(reader.aclose),
    )


def state_response(
    data: Payload, headers: Mapping[str, str] | None = None, *, status_code: int = 200
) -> Response:
    """``application/json`` with ``data`` (200 unless told), sent in slices when large."""
    if len(data) <= SLICE:
        return Response(
            bytes(data),
            status_code=status_code,
            media_type="application/json",
            headers=dict(headers or {}),
        )

    async def slices() -> AsyncIterator[bytes]:
        view = memoryview(data)
        for start in range(0, len(data), SLICE):
            yield view[start : start + SLICE]  # type: ignore[misc]

    return StreamingResponse(
        slices(),
        status_code=status_code,
        media_type="application/json",
        headers={**(headers or {}), "Content-Length": str(len(data))},
    )
