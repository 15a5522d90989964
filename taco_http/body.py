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


async def read_body(request: Request, limit: int, what: str = "state") -> Payload:
    """The whole body, refused early when over ``limit`` (``BodyTooLarge``
    naming ``what``).

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
    check_content_md5(request, body)
    return body  # a bytearray: every consumer reads it through the buffer protocol


def check_content_md5(request: Request, body: Payload) -> None:
    """Verify ``Content-MD5`` when the client sent one (Terraform always does),
    so a body damaged in transit is refused instead of stored."""
    sent = request.headers.get("content-md5")
    if not sent:
        return
    try:
        expected = base64.b64decode(sent, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"invalid Content-MD5 header {sent!r}") from None
    digest = hashlib.md5(body, usedforsecurity=False).digest()
    if digest != expected:
        raise InvalidInput("request body does not match its Content-MD5 header")
    request.scope[_VERIFIED_MD5] = digest.hex()


# Where ``check_content_md5`` leaves the MD5 it verified, for ``verified_md5``.
_VERIFIED_MD5 = "taco.verified_md5"


def verified_md5(request: Request) -> str | None:
    """The hex MD5 of the body ``read_body`` returned, when it was computed to
    check ``Content-MD5``: the version record takes it instead of hashing the
    state a second time."""
    found = request.scope.get(_VERIFIED_MD5)
    return found if isinstance(found, str) else None


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
