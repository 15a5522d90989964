"""One versioned document as one S3 object, replaced by compare-and-swap.

The RBAC policy and the organization directory are each such a document: a
value with a ``version``, loaded whole and saved only if the stored version is
still the one the caller edited. S3's conditional writes do the swap: the
first document is created with ``If-None-Match: *``, every later one replaces
the object with ``If-Match: <the ETag of the version expected>``, so of
several replicas saving at once exactly one wins and the others get 412 (the
service then re-reads and re-applies its edit). Each write carries a random
``write`` nonce, so a write botocore retried after a lost response, answered
412 because it had in fact landed, is recognised as ours: the stored bytes
are then exactly the ones we sent.

S3 is strongly consistent for reads after writes (AWS since 2020, and the
S3-compatible stores we test), so a load after a save anywhere sees it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from taco_adapters.s3.bucket import PreconditionFailed, S3Bucket


class Versioned(Protocol):
    @property
    def version(self) -> int: ...


D = TypeVar("D", bound=Versioned)


class VersionedDocument(Generic[D]):
    """The document at ``key``: ``encode(doc, write=nonce)`` makes its bytes,
    ``decode(bytes, where)`` reads them back (naming ``where`` on damage)."""

    def __init__(
        self,
        objects: S3Bucket,
        where: str,
        key: str,
        encode: Callable[..., bytes],
        decode: Callable[[bytes, str], D],
    ) -> None:
        self._s3 = objects
        self._where = where
        self.key = key
        self._encode = encode
        self._decode = decode

    async def load(self) -> D | None:
        found = await self._s3.get(self.key)
        if found is None:
            return None
        return self._decode(found.body or b"", self._where)

    async def save(self, doc: D, expected_version: int | None) -> bool:
        body = self._encode(doc, write=secrets.token_hex(8))
        if expected_version is None:
            return await self._put(body, if_match=None)
        found = await self._s3.get(self.key)
        if found is None:
            return False
        stored = self._decode(found.body or b"", self._where)
        if stored.version != expected_version:
            return False
        return await self._put(body, if_match=found.etag)

    async def _put(self, body: bytes, *, if_match: str | None) -> bool:
        try:
            await self._s3.put(self.key, body, if_match=if_match, if_absent=if_match is None)
        except PreconditionFailed:
            now = await self._s3.get(self.key)
            return now is not None and now.body == body
        return True
