"""``DirectoryStore`` in the S3 bucket that holds the states: one object,
``<prefix>/__opentaco/directory/directory.json``, holding the directory
document (``taco_adapters.wire.directory``).

Saved by compare-and-swap on S3's conditional writes
(``taco_adapters.s3.versioned_document``).
"""

from __future__ import annotations

from taco_adapters.s3.bucket import BucketStore, S3Bucket
from taco_adapters.s3.layout import Layout
from taco_adapters.s3.versioned_document import VersionedDocument
from taco_adapters.wire.directory import directory_bytes, directory_from_bytes
from taco_core.directory import Directory


class S3DirectoryStore(BucketStore):
    """The organization directory as one object in the bucket, under the
    states' prefix. Build it with ``open``, or on a shared ``S3Bucket``."""

    def __init__(self, bucket: S3Bucket, *, prefix: str = "") -> None:
        super().__init__(bucket, prefix=prefix)
        key = Layout(prefix).directory()
        self._document = VersionedDocument[Directory](
            bucket, f"s3://{self.bucket}/{key}", key, directory_bytes, directory_from_bytes
        )
        self.key = key

    async def load(self) -> Directory | None:
        return await self._document.load()

    async def save(self, directory: Directory, expected_version: int | None) -> bool:
        return await self._document.save(directory, expected_version)
