"""Reading request bodies within the size limit.

The limit is checked against ``Content-Length`` before anything is read, and
again while streaming (chunked bodies have no length), so an oversized upload
costs neither memory nor a stored byte.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from starlette.requests import Request

from taco_core.errors import InvalidInput, StateTooLarge


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise InvalidInput(f"invalid Content-Length header {declared!r}") from None
        if length > limit:
            raise StateTooLarge(limit)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise StateTooLarge(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    check_content_md5(request, body)
    return body


def check_content_md5(request: Request, body: bytes) -> None:
    """Verify ``Content-MD5`` when the client sent one (Terraform always does),
    so a body damaged in transit is refused instead of stored."""
    sent = request.headers.get("content-md5")
    if not sent:
        return
    try:
        expected = base64.b64decode(sent, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"invalid Content-MD5 header {sent!r}") from None
    if hashlib.md5(body, usedforsecurity=False).digest() != expected:
        raise InvalidInput("request body does not match its Content-MD5 header")
