"""Sending large states without extra copies.

A ``Response(body)`` hands the whole body to the transport at once; whatever
the socket does not take immediately is copied into the transport's buffer,
a second copy of a 100 MB state. Sending slices of the one buffer and letting
the server wait for the socket (flow control) between them keeps one copy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from starlette.responses import Response, StreamingResponse

from taco_core.model import Payload

SLICE = 1024 * 1024


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
