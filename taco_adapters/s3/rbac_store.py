"""``RbacStore`` in the S3 bucket that holds the states: one object,
``<prefix>/__opentaco/rbac/policy.json``, holding the policy document
(``taco_adapters.wire.rbac``).

Saved by compare-and-swap on S3's conditional writes
(``taco_adapters.s3.versioned_document``).
"""

from __future__ import annotations

from taco_adapters.s3.bucket import BucketStore, S3Bucket
from taco_adapters.s3.layout import Layout
from taco_adapters.s3.versioned_document import VersionedDocument
from taco_adapters.wire import policy_bytes, policy_from_bytes
from taco_core.rbac import RbacPolicy


class S3RbacStore(BucketStore):
    """The RBAC policy as one object in the bucket, under the states' prefix.

    Build it with ``open`` (which creates and owns a client and checks the
    bucket), or on an ``S3Bucket`` you open and close, which the states and
    auth stores may share.
    """

    def __init__(self, bucket: S3Bucket, *, prefix: str = "") -> None:
        super().__init__(bucket, prefix=prefix)
        key = Layout(prefix).rbac_policy()
        self._document = VersionedDocument[RbacPolicy](
            bucket, f"s3://{self.bucket}/{key}", key, policy_bytes, policy_from_bytes
        )
        self.key = key

    async def load(self) -> RbacPolicy | None:
        return await self._document.load()

    async def save(self, policy: RbacPolicy, expected_version: int | None) -> bool:
        return await self._document.save(policy, expected_version)
