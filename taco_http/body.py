"""Reading request bodies within a size limit, as bytes or as a JSON object.

The limit is checked against ``Content-Length`` before anything is read, and
again while reading (chunked bodies have no length), so an oversized upload
costs neither memory nor a stored byte. Memory follows the bytes that
arrive, never the length a client declares: four connections announcing
400 MB each and sending nothing must not cost 1.6 GB.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from starlette.requests import Request

from taco_core.errors import BodyTooLarge, InvalidInput, StateTooLarge
from taco_core.model import Payload


def _too_large(what: str, limit: int) -> BodyTooLarge:
    return StateTooLarge(limit) if what == "state" else BodyTooLarge(what, limit)


async def read_body(
    request: Request, limit: int, what: str = "state", *, check_md5: bool = True
) -> Payload:
    """The whole body, refused early when over ``limit`` (``BodyTooLarge``
    naming ``what``), checked against ``Content-MD5`` unless the caller hands
    the claim to the use case instead (``check_md5=False``, ``claimed_md5``).

    The bytes grow one buffer as they arrive (a large realloc moves pages
    rather than copying them), so a large state is held once rather than as
    chunks plus their join.
    """
    declared = request.headers.get("content-length")
    length: int | None = None
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise InvalidInput(f"invalid Content-Length header {declared[:40]!r}")
        if len(declared) > len(str(limit)) or int(declared) > limit:
            raise _too_large(what, limit)
        length = int(declared)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(what, limit)
        if length is not None and len(body) > length:
            raise InvalidInput("request body is longer than its Content-Length header")
    if length is not None and len(body) != length:
        raise InvalidInput("request body is shorter than its Content-Length header")
    if check_md5:
        check_content_md5(request, body)
    return body  # a bytearray: every consumer reads it through the buffer protocol


def claimed_md5(request: Request) -> str | None:
    """The hex MD5 the client's ``Content-MD5`` claims for the body (Terraform
    always sends one), for a use case that checks it while it hashes the
    state anyway (``StateService.upload``'s ``expected_md5``: beside the
    parse, off the event loop); ``InvalidInput`` when it is no MD5."""
    expected = _content_md5(request)
    return expected.hex() if expected is not None else None


def _content_md5(request: Request) -> bytes | None:
    sent = request.headers.get("content-md5")
    if not sent:
        return None
    try:
        expected = base64.b64decode(sent, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"invalid Content-MD5 header {sent[:40]!r}: not base64") from None
    if len(expected) != 16:
        raise InvalidInput(f"invalid Content-MD5 header {sent[:40]!r}: not an MD5 digest")
    return expected


def check_content_md5(request: Request, body: Payload) -> None:
    """Verify ``Content-MD5`` when the client sent one (Terraform always does),
    so a body damaged in transit is refused instead of stored."""
    expected = _content_md5(request)
    if expected is None:
        return
    digest = hashlib.md5(body, usedforsecurity=False).digest()
    if digest != expected:
        raise InvalidInput("request body does not match its Content-MD5 header")


# Request bodies other than states (lock requests, token requests ...) are
# tiny; this only bounds what a confused client can send.
SMALL_BODY = 64 * 1024


def parse_json_object(body: Payload, what: str) -> dict[str, Any]:
    """Parse a request body that must be a JSON object (``{}`` when empty)."""
    if not body.strip():
        return {}
    try:
        doc = json.loads(body)
    except RecursionError:
        raise InvalidInput(f"{what} nests arrays and objects too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        # ValueError also says an integer is too long to read (4300 digits).
        raise InvalidInput(f"{what} is not valid JSON: {str(exc).split(';')[0]}") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    return doc


async def read_json_object(request: Request, what: str) -> dict[str, Any]:
    """The request's small body as a JSON object (``{}`` when empty)."""
    return parse_json_object(await read_body(request, SMALL_BODY, what), what)
