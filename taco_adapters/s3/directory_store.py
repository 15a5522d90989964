"""``DirectoryStore`` in the S3 bucket that holds the states: one object,
``<prefix>/__opentaco/directory/directory.json``, holding the directory
document (``taco_adapters.wire.directory``).

Compare-and-swap is S3's conditional write: the first document is created
with ``If-None-Match: *``, and every later one replaces the object with
``If-Match: <the ETag of the version expected>``, so of several replicas
saving at once exactly one wins and the others get 412 (the service then
re-reads and re-applies its edit). Each write carries a random ``write``
nonce, so a write botocore retried after a lost response, answered 412
because it had in fact landed, is recognised as ours.
"""

from __future__ import annotations

import secrets

from taco_adapters.s3.bucket import BucketStore, PreconditionFailed, S3Bucket
from taco_adapters.s3.layout import Layout
from taco_adapters.wire.directory import directory_bytes, directory_from_bytes
from taco_core.directory import Directory


class S3DirectoryStore(BucketStore):
    """The organization directory as one object in the bucket, under the
    states' prefix. Build it with ``open``, or on a shared ``S3Bucket``."""

    def __init__(self, bucket: S3Bucket, *, prefix: str = "") -> None:
        super().__init__(bucket, prefix=prefix)
        self.key = Layout(prefix).directory()

    def _where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    async def load(self) -> Directory | None:
        found = await self._s3.get(self.key)
        if found is None:
            return None
        return directory_from_bytes(found.body or b"", self._where())

    async def save(self, directory: Directory, expected_version: int | None) -> bool:
        body = directory_bytes(directory, write=secrets.token_hex(8))
        if expected_version is None:
            return await self._put(body, if_match=None)
        found = await self._s3.get(self.key)
        if found is None:
            return False
        stored = directory_from_bytes(found.body or b"", self._where())
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
