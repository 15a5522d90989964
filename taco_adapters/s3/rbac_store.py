"""``RbacStore`` in the S3 bucket that holds the states: one object,
``<prefix>/__opentaco/rbac/policy.json``, holding the policy document
(``taco_adapters.wire.rbac``).

Compare-and-swap is S3's conditional write: the first policy is created with
``If-None-Match: *``, and every later one replaces the object with
``If-Match: <the ETag of the version expected>``, so of several replicas
saving at once exactly one wins and the others get 412 (the service then
re-reads and re-applies its edit). Each write carries a random ``write``
nonce, so a write botocore retried after a lost response, answered 412
because it had in fact landed, is recognised as ours: the stored bytes are
then exactly the ones we sent.

S3 is strongly consistent for reads after writes (AWS since 2020, and the
S3-compatible stores we test), so a load after a save anywhere sees it.
"""

from __future__ import annotations

import secrets

from taco_adapters.s3.bucket import BucketStore, PreconditionFailed, S3Bucket
from taco_adapters.s3.layout import Layout
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
        self.key = Layout(prefix).rbac_policy()

    def _where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    async def load(self) -> RbacPolicy | None:
        found = await self._s3.get(self.key)
        if found is None:
            return None
        return policy_from_bytes(found.body or b"", self._where())

    async def save(self, policy: RbacPolicy, expected_version: int | None) -> bool:
        body = policy_bytes(policy, write=secrets.token_hex(8))
        if expected_version is None:
            return await self._put(body, if_match=None)
        found = await self._s3.get(self.key)
        if found is None:
            return False
        stored = policy_from_bytes(found.body or b"", self._where())
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
