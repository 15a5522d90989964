"""One replica in a race between processes on an ``RbacStore`` (run by
``test_rbac_store_contract``): it loads the policy, says ``ready``, waits
for ``go`` on standard input, then saves its own next version and prints
whether it won, as JSON.

    python -m tests.contract.rbac_racer sqlite PATH NAME
    python -m tests.contract.rbac_racer s3 ENDPOINT REGION BUCKET PREFIX NAME

S3 credentials come from the environment (``AWS_ACCESS_KEY_ID`` ...).
"""

from __future__ import annotations

import json
import sys

import anyio

from taco_adapters.s3 import S3RbacStore
from taco_adapters.sqlite import SqliteRbacStore
from taco_core.ports import RbacStore
from taco_core.rbac_policy import assign_role


async def race(store: RbacStore, name: str) -> None:
    policy = await store.load()
    assert policy is not None, "the race starts from a stored policy"
    mine = assign_role(policy, name, "empty")  # a role of the test's policy
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("expected 'go' on standard input")
    won = await store.save(mine, policy.version)
    print(json.dumps({"name": name, "won": won, "version": mine.version}), flush=True)


async def main(argv: list[str]) -> None:
    kind, *rest = argv
    if kind == "sqlite":
        path, name = rest
        sqlite = await SqliteRbacStore.open(path)
        try:
            await race(sqlite, name)
        finally:
            await sqlite.aclose()
    else:
        endpoint, region, bucket, prefix, name = rest
        s3 = await S3RbacStore.open(bucket, prefix=prefix, region=region, endpoint_url=endpoint)
        try:
            await race(s3, name)
        finally:
            await s3.aclose()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:], backend="asyncio")
