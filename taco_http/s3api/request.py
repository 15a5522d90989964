"""An incoming S3 request exactly as the client signed it.

SigV4 signs the bytes on the wire: the path as sent (S3 does not normalise or
re-encode it), the query, and the headers with the values as sent, repeated
headers included. Starlette's ``request.url.path`` is already percent-decoded,
so the S3 surface takes the raw ASGI scope instead (``from_scope``) and keeps
headers as an ordered list of pairs rather than a mapping.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
from starlette.types import Scope

from taco_http.s3api.errors import InvalidArgument


def _lower_names(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((name.lower(), value) for name, value in headers)


def _text(raw: bytes) -> str:
    # Clients sign UTF-8; undecodable bytes become U+FFFD, so such a request
    # simply fails its signature check instead of raising.
    return raw.decode("utf-8", errors="replace")


@attrs.frozen
class S3Request:
    """Method, undecoded path and query, and every header (names lower-cased, in order)."""

    method: str
    raw_path: str
    raw_query: str
    headers: tuple[tuple[str, str], ...] = attrs.field(converter=_lower_names)

    @classmethod
    def from_scope(cls, scope: Scope) -> S3Request:
        """The request of an ASGI HTTP scope, from its raw path, query and headers."""
        raw_path = scope.get("raw_path") or scope["path"].encode()
        return cls(
            method=scope["method"],
            raw_path=_text(raw_path),
            raw_query=_text(scope.get("query_string", b"")),
            headers=[(_text(name), _text(value)) for name, value in scope["headers"]],
        )

    def values(self, name: str) -> list[str]:
        """Every value sent for header ``name`` (any case), in order."""
        wanted = name.lower()
        return [value for key, value in self.headers if key == wanted]

    def header(self, name: str) -> str | None:
        """The one value of header ``name``, or None; sent twice it is ambiguous and refused."""
        found = self.values(name)
        if len(found) > 1:
            raise InvalidArgument(f"Header {name} was sent more than once.", ArgumentName=name)
        return found[0] if found else None
