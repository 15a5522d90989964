"""Small signed values that travel through a client and come back: the OAuth
``state`` and authorization codes of ``terraform login``, and the principal a
signed upload URL carries.

A sealed value is ``<base64url JSON>.<base64url HMAC-SHA256>``; the MAC covers
a purpose label and the payload, which holds its own expiry, so a value made
for one purpose (or one that expired, or was altered) never opens as another.
Values are signed, not encrypted: nothing secret goes in them (a PKCE
verifier is derived from a sealed nonce with the key instead of carried).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from taco_core.auth import Principal, PrincipalKind

_EXPIRES = "exp"


class BrokenSeal(ValueError):
    """A sealed value was altered, made for another purpose, or expired."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def derive(key: bytes, purpose: str, value: str) -> str:
    """A secret only the key's holder can compute from ``value`` (43 characters)."""
    return b64url(hmac.new(key, f"{purpose}\n{value}".encode(), hashlib.sha256).digest())


def _mac(key: bytes, purpose: str, body: str) -> str:
    return derive(key, f"seal:{purpose}", body)


def seal(
    key: bytes, purpose: str, payload: Mapping[str, Any], *, now: datetime, ttl: timedelta
) -> str:
    """``payload`` signed for ``purpose``, valid until ``now + ttl``."""
    doc = {**payload, _EXPIRES: int((now + ttl).timestamp())}
    body = b64url(json.dumps(doc, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_mac(key, purpose, body)}"


def unseal(key: bytes, purpose: str, sealed: str, *, now: datetime) -> dict[str, Any]:
    """The payload of a value sealed for ``purpose`` that has not expired;
    ``BrokenSeal`` for anything else."""
    body, dot, mac = sealed.partition(".")
    if not dot or not hmac.compare_digest(
        _mac(key, purpose, body).encode(), mac.encode("utf-8", "replace")
    ):
        raise BrokenSeal("not issued by this server")
    try:
        doc = json.loads(_unb64url(body))
    except (binascii.Error, ValueError):
        raise BrokenSeal("unreadable") from None
    if not isinstance(doc, dict):
        raise BrokenSeal("unreadable")
    payload: dict[str, Any] = doc
    expires = payload.pop(_EXPIRES, None)
    if not isinstance(expires, int) or expires < now.timestamp():
        raise BrokenSeal("expired")
    return payload


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier (RFC 7636)."""
    return b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())


def principal_doc(principal: Principal) -> dict[str, Any]:
    """Everything that decides what a principal may do, as JSON."""
    return {
        "s": principal.subject,
        "k": str(principal.kind),
        "e": principal.email,
        "g": list(principal.groups),
        "t": principal.token_id,
        "n": None if principal.narrowed_to is None else list(principal.narrowed_to),
    }


def principal_from_doc(doc: Mapping[str, Any]) -> Principal:
    """The principal ``principal_doc`` described; ``BrokenSeal`` if it is not one."""
    try:
        narrowed = doc["n"]
        return Principal(
            subject=str(doc["s"]),
            kind=PrincipalKind(doc["k"]),
            email=str(doc["e"]),
            groups=tuple(str(g) for g in doc["g"]),
            token_id=str(doc["t"]),
            narrowed_to=None if narrowed is None else tuple(str(r) for r in narrowed),
        )
    except (KeyError, TypeError, ValueError):
        raise BrokenSeal("not a principal") from None


def encode_principal(principal: Principal) -> str:
    """A principal for a URL parameter (base64url JSON; sign the URL)."""
    return b64url(json.dumps(principal_doc(principal), separators=(",", ":")).encode())


def decode_principal(text: str) -> Principal:
    """The principal ``encode_principal`` wrote; ``BrokenSeal`` otherwise."""
    try:
        doc = json.loads(_unb64url(text))
    except (binascii.Error, ValueError):
        raise BrokenSeal("unreadable principal") from None
    if not isinstance(doc, dict):
        raise BrokenSeal("unreadable principal")
    return principal_from_doc(doc)
