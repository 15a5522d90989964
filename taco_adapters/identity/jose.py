"""What both token checkers share about joserfc: which of its exceptions mean
"not a valid token", how to say why, and reading a token's header before its
signature is checked (to pin the algorithm and pick the key)."""

from __future__ import annotations

from typing import Any

from joserfc import jws
from joserfc.errors import JoseError

# What joserfc raises for a token that is malformed, forged or expired.
JOSE_ERRORS: tuple[type[Exception], ...] = (JoseError, ValueError, TypeError)


def reason(exc: Exception) -> str:
    """Why joserfc refused a token, in a few words."""
    if isinstance(exc, JoseError):
        return exc.description or exc.error
    return str(exc) or type(exc).__name__


def compact_header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWS; ``JOSE_ERRORS`` when it has none."""
    return dict(jws.extract_compact(token.encode()).headers())
