"""URLs that carry their own authorization, for clients that send none.

Terraform's ``cloud`` backend uploads state bytes with a bare ``PUT`` to the
URL the server handed it (no ``Authorization`` header), so that URL must
prove by itself that the server issued it, for this method and path, and
recently. A signed URL's query holds its parameters, ``exp`` (Unix seconds)
and ``sig``: HMAC-SHA256 under a key of the installation (``Keys``) over the
method, the path, and every other parameter in a canonical order. It is
checked in constant time; changing any part, or using it late, fails.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from urllib.parse import urlencode

from taco_core.errors import Forbidden

_EXPIRY = "exp"
_SIGNATURE = "sig"


class UrlSigner:
    """Signs and checks URLs with one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, method: str, path: str, pairs: Sequence[tuple[str, str]]) -> str:
        message = "\n".join([method.upper(), path, urlencode(sorted(pairs))]).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def sign(
        self,
        method: str,
        path: str,
        params: Mapping[str, str],
        *,
        now: datetime,
        ttl: timedelta,
    ) -> str:
        """The query string that makes ``method path`` valid until ``now + ttl``
        (``params`` included; none may be ``exp`` or ``sig``)."""
        if _EXPIRY in params or _SIGNATURE in params:
            raise ValueError("exp and sig are the signature's own parameters")
        pairs = [*params.items(), (_EXPIRY, str(int((now + ttl).timestamp())))]
        return urlencode([*sorted(pairs), (_SIGNATURE, self._mac(method, path, pairs))])

    def verify(
        self, method: str, path: str, query: Sequence[tuple[str, str]], *, now: datetime
    ) -> dict[str, str]:
        """The signed parameters (without ``exp`` and ``sig``) of a URL this
        signer issued for ``method path`` that has not expired; ``Forbidden``
        saying why for anything else."""
        keys = [k for k, _ in query]
        if len(set(keys)) != len(keys):
            raise Forbidden("signed URL invalid: a parameter appears twice")
        params = dict(query)
        signature = params.pop(_SIGNATURE, "")
        expiry = params.get(_EXPIRY, "")
        if not signature or not expiry:
            raise Forbidden("this URL must be signed: use the URL the server handed out")
        expected = self._mac(method, path, list(params.items()))
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise Forbidden("signed URL invalid: the signature does not match")
        if not expiry.isdigit() or int(expiry) < now.timestamp():
            raise Forbidden("signed URL expired: ask the server for a new one")
        del params[_EXPIRY]
        return params
