"""What only the S3 store promises: plain Terraform/Terragrunt buckets served as
they are, locks shared with Terraform's own s3 backend, and the repair of the
crash windows its design admits. Objects are written "from outside" with a
plain botocore client, the way Terraform and Terragrunt write them."""

from __future__ import annotations

import functools
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from taco_adapters.s3 import S3StateStore
from taco_adapters.s3.bucket import S3Bucket
from taco_core.errors import (
    ConcurrentUpdate,
    LockConflict,
    StorageUnavailable,
    UnitAlreadyExists,
    UnitNotFound,
)
from taco_core.model import LockInfo, NewVersion, RetentionPolicy, Unit
from taco_core.state_doc import read_facts
from taco_core.unit_id import UnitId
from tests.s3_server import S3Server
from tests.tcp_proxy import tcp_proxy

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KEEP_ALL = RetentionPolicy(max_versions=1000)
U = UnitId("app/prod")

OpenStore = Callable[..., Awaitable[S3StateStore]]


def state(serial: int, lineage: str = "L1") -> bytes:
    # Odd spacing on purpose: the store must keep bytes, never re-serialise.
    return b'{"version": 4,  "serial": %d, "lineage": "%s", "outputs": {}}\n' % (
        serial,
        lineage.encode(),
    )


def new(data: bytes, at: datetime = T0) -> NewVersion:
    return NewVersion(facts=read_facts(data), data=data, created=at)


def terraform_lock(lock_id: str = "11111111-2222-3333-4444-555555555555") -> dict[str, str]:
    """A LockInfo body as Terraform 1.15's s3 backend writes it."""
    return {
        "ID": lock_id,
        "Operation": "OperationTypeApply",
        "Info": "",
        "Who": "alice@laptop",
        "Version": "1.15.5",
        "Created": "2026-01-01T10:00:00.123456789Z",
        "Path": "bucket/app/prod/terraform.tfstate",
    }


@pytest.fixture
def raw(s3_server: S3Server) -> Any:
    return s3_server.sync_client()


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    return s3_server.new_bucket()


@pytest.fixture
async def open_store(s3_server: S3Server) -> AsyncIterator[OpenStore]:
    stores: list[S3StateStore] = []

    async def make(bucket: str, prefix: str = "") -> S3StateStore:
        store = await S3StateStore.open(
            bucket,
            prefix=prefix,
            region=s3_server.region,
            endpoint_url=s3_server.endpoint_url,
            session=s3_server.session(),
        )
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.aclose()


def keys(raw: Any, bucket: str, prefix: str = "") -> list[str]:
    found: list[str] = []
    for page in raw.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [o["Key"] for o in page.get("Contents", [])]
    return found


def body(raw: Any, bucket: str, key: str) -> bytes:
    return bytes(raw.get_object(Bucket=bucket, Key=key)["Body"].read())


TERRAGRUNT = {
    "live/prod/vpc/terraform.tfstate": state(7, "vpc"),
    "live/prod/app/terraform.tfstate": state(3, "app"),
    "live/dev/vpc/terraform.tfstate": state(1, "devvpc"),
    "live/README.md": b"not a state",
    "env:/dev/proj/terraform.tfstate": state(1, "ws"),
}


async def test_terragrunt_bucket_is_served_unchanged(
    raw: Any, bucket: str, open_store: OpenStore
) -> None:
    """A bucket filled by Terragrunt lists and reads as units, and reading writes nothing."""
    for key, data in TERRAGRUNT.items():
        raw.put_object(Bucket=bucket, Key=key, Body=data)
    before = {k: body(raw, bucket, k) for k in keys(raw, bucket)}

    store = await open_store(bucket)
    assert [u.id for u in await store.list_units()] == [
        "live/dev/vpc",
        "live/prod/app",
        "live/prod/vpc",
    ]
    assert [u.id for u in await store.list_units("live/prod/")] == [
        "live/prod/app",
        "live/prod/vpc",
    ]
    vpc = UnitId("live/prod/vpc")
    unit = await store.get_unit(vpc)
    modified = raw.head_object(Bucket=bucket, Key="live/prod/vpc/terraform.tfstate")["LastModified"]
    size = len(TERRAGRUNT[f"{vpc}/terraform.tfstate"])
    assert (unit.head, unit.size, unit.lock) == (0, size, None)
    assert unit.created == unit.updated == modified
    version, data = await store.read_state(vpc)  # type: ignore[misc]
    assert data == TERRAGRUNT[f"{vpc}/terraform.tfstate"]
    assert (version.number, version.serial, version.lineage) == (0, 7, "vpc")
    assert await store.head(vpc) == version
    assert await store.list_versions(vpc) == [version]
    assert await store.read_version(vpc, 0) == (version, data)

    nested = await open_store(bucket, prefix="live")
    assert [u.id for u in await nested.list_units()] == ["dev/vpc", "prod/app", "prod/vpc"]
    assert {k: body(raw, bucket, k) for k in keys(raw, bucket)} == before


async def test_first_commit_adopts_a_foreign_state(
    raw: Any, bucket: str, open_store: OpenStore
) -> None:
    """The first write keeps the foreign state as version 0 and writes exact bytes in its place."""
    original = state(7, "vpc")
    raw.put_object(Bucket=bucket, Key="vpc/terraform.tfstate", Body=original)
    store = await open_store(bucket)
    vpc = UnitId("vpc")
    with pytest.raises(UnitAlreadyExists):
        await store.create_unit(Unit(id=vpc, created=T0, updated=T0))
    v1 = await store.commit(
        vpc, new(state(8, "vpc")), expected_head=0, lock_id=None, retention=KEEP_ALL
    )
    assert v1.number == 1
    assert [v.number for v in await store.list_versions(vpc)] == [1, 0]
    assert (await store.read_version(vpc, 0))[1] == original
    assert body(raw, bucket, "vpc/terraform.tfstate") == state(8, "vpc")


async def test_outside_write_is_served_then_kept_in_history(
    raw: Any, bucket: str, open_store: OpenStore
) -> None:
    """Terraform writing terraform.tfstate directly makes a new head, adopted on the next commit."""
    store = await open_store(bucket)
    await store.create_unit(Unit(id=U, created=T0, updated=T0))
    for serial in (1, 2):
        await store.commit(
            U,
            new(state(serial)),
            expected_head=serial - 1 or None,
            lock_id=None,
            retention=KEEP_ALL,
        )
    outside = state(3)
    raw.put_object(Bucket=bucket, Key=f"{U}/terraform.tfstate", Body=outside)

    head = await store.head(U)
    assert head is not None
    assert (head.number, head.serial, head.surface) == (3, 3, "s3")
    assert await store.read_state(U) == (head, outside)
    assert (await store.get_unit(U)).head == 3
    v4 = await store.commit(U, new(state(4)), expected_head=3, lock_id=None, retention=KEEP_ALL)
    assert v4.number == 4
    assert [v.number for v in await store.list_versions(U)] == [4, 3, 2, 1]
    assert (await store.read_version(U, 3))[1] == outside
    assert body(raw, bucket, f"{U}/terraform.tfstate") == state(4)


async def test_terraform_tflock_is_reported_as_the_holder(
    raw: Any, bucket: str, open_store: OpenStore
) -> None:
    """A .tflock written the way Terraform writes it blocks locks and writes, naming its holder."""
    store = await open_store(bucket)
    await store.create_unit(Unit(id=U, created=T0, updated=T0))
    tf = terraform_lock()
    raw.put_object(
        Bucket=bucket,
        Key=f"{U}/terraform.tfstate.tflock",
        Body=json.dumps(tf).encode(),
        IfNoneMatch="*",
        ContentType="application/json",
    )
    holder = LockInfo(**{k.lower(): v for k, v in tf.items()})
    with pytest.raises(LockConflict) as caught:
        await store.lock(U, LockInfo(id="ours"))
    assert caught.value.holder == holder
    assert (await store.get_unit(U)).lock == holder
    assert [u.lock for u in await store.list_units()] == [holder]
    with pytest.raises(LockConflict):
        await store.commit(U, new(state(1)), expected_head=None, lock_id=None, retention=KEEP_ALL)
    with pytest.raises(LockConflict):
        await store.unlock(U, "ours")
    await store.unlock(U, tf["ID"])
    assert f"{U}/terraform.tfstate.tflock" not in keys(raw, bucket)


async def test_legacy_lock_object_counts_as_held(
    raw: Any, bucket: str, open_store: OpenStore
) -> None:
    """The Go reference's terraform.tfstate.lock (lowercase keys) is held; force clears it."""
    store = await open_store(bucket)
    await store.create_unit(Unit(id=U, created=T0, updated=T0))
    legacy = {"id": "go-1", "who": "taco@host", "version": "1.0.0", "created": "2025-10-02T00:00Z"}
    raw.put_object(
        Bucket=bucket, Key=f"{U}/terraform.tfstate.lock", Body=json.dumps(legacy).encode()
    )
    holder = LockInfo(**legacy)
    with pytest.raises(LockConflict) as caught:
        await store.lock(U, LockInfo(id="ours"))
    assert caught.value.holder == holder
    assert await store.lock(U, LockInfo(id="go-1")) == holder
    await store.unlock(U, None)
    assert await store.lock(U, LockInfo(id="ours")) == LockInfo(id="ours")
    assert f"{U}/terraform.tfstate.lock" not in keys(raw, bucket)


async def test_unreadable_lock_object_still_counts_as_held(
    raw: Any, bucket: str, open_store: OpenStore
) -> None:
    """A lock object we cannot parse is never written over."""
    store = await open_store(bucket)
    await store.create_unit(Unit(id=U, created=T0, updated=T0))
    raw.put_object(Bucket=bucket, Key=f"{U}/terraform.tfstate.tflock", Body=b"garbage")
    with pytest.raises(LockConflict):
        await store.lock(U, LockInfo(id="ours"))
    await store.unlock(U, None)
    await store.lock(U, LockInfo(id="ours"))


async def test_our_lock_is_the_tflock_terraform_reads(
    raw: Any, bucket: str, open_store: OpenStore
) -> None:
    """Our lock is Terraform's .tflock with its capitalised JSON, and refuses Terraform's create."""
    store = await open_store(bucket)
    await store.create_unit(Unit(id=U, created=T0, updated=T0))
    ours = LockInfo(
        id="abc",
        operation="OperationTypeApply",
        who="bob",
        version="1.0.3",
        created="2026-01-01T00:00:00Z",
        path="p",
    )
    await store.lock(U, ours)
    key = f"{U}/terraform.tfstate.tflock"
    assert json.loads(body(raw, bucket, key)) == {
        "ID": "abc",
        "Operation": "OperationTypeApply",
        "Info": "",
        "Who": "bob",
        "Version": "1.0.3",
        "Created": "2026-01-01T00:00:00Z",
        "Path": "p",
    }
    with pytest.raises(raw.exceptions.ClientError) as refused:
        raw.put_object(Bucket=bucket, Key=key, Body=b"{}", IfNoneMatch="*")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    await store.unlock(U, "abc")
    assert key not in keys(raw, bucket)


async def test_commit_puts_exact_bytes_in_plain_tfstate(
    raw: Any, bucket: str, open_store: OpenStore
) -> None:
    """After a commit, terraform.tfstate holds the committed bytes exactly, marked as ours."""
    store = await open_store(bucket, prefix="states/")
    await store.create_unit(Unit(id=U, created=T0, updated=T0))
    data = state(1)
    await store.commit(U, new(data), expected_head=None, lock_id=None, retention=KEEP_ALL)
    key = f"states/{U}/terraform.tfstate"
    assert body(raw, bucket, key) == data
    assert raw.head_object(Bucket=bucket, Key=key)["Metadata"]["opentaco-version"] == "1"


async def test_lagging_tfstate_is_repaired_on_read(
    raw: Any, bucket: str, open_store: OpenStore
) -> None:
    """A terraform.tfstate left stale by a crash after the head moved is bypassed and rewritten."""
    store = await open_store(bucket)
    await store.create_unit(Unit(id=U, created=T0, updated=T0))
    await store.commit(U, new(state(1)), expected_head=None, lock_id=None, retention=KEEP_ALL)
    v2 = await store.commit(U, new(state(2)), expected_head=1, lock_id=None, retention=KEEP_ALL)
    key = f"{U}/terraform.tfstate"
    raw.put_object(Bucket=bucket, Key=key, Body=state(1), Metadata={"opentaco-version": "1"})
    assert await store.head(U) == v2
    assert await store.read_state(U) == (v2, state(2))
    assert body(raw, bucket, key) == state(2)


async def test_lock_taken_during_a_commit_rolls_it_back(
    raw: Any, bucket: str, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lock taken between the commit's lock check and its head swap undoes the commit."""
    store = await open_store(bucket)
    await store.create_unit(Unit(id=U, created=T0, updated=T0))
    swap = store._put_doc
    tf = terraform_lock()

    async def lock_then_swap(*args: Any, **kwargs: Any) -> str:
        raw.put_object(
            Bucket=bucket,
            Key=f"{U}/terraform.tfstate.tflock",
            Body=json.dumps(tf).encode(),
            IfNoneMatch="*",
        )
        monkeypatch.setattr(store, "_put_doc", swap)
        return await swap(*args, **kwargs)

    monkeypatch.setattr(store, "_put_doc", lock_then_swap)
    with pytest.raises(LockConflict) as caught:
        await store.commit(U, new(state(1)), expected_head=None, lock_id=None, retention=KEEP_ALL)
    assert caught.value.holder.id == tf["ID"]
    assert await store.head(U) is None
    assert await store.list_versions(U) == []
    assert not [k for k in keys(raw, bucket) if "/versions/" in k]
    assert f"{U}/terraform.tfstate" not in keys(raw, bucket)
    v = await store.commit(
        U, new(state(1)), expected_head=None, lock_id=tf["ID"], retention=KEEP_ALL
    )
    assert v.number == 2  # numbers are never reused


async def test_purge_leaves_nested_units_alone(
    raw: Any, bucket: str, open_store: OpenStore
) -> None:
    """Purging unit "a" removes its objects (a tombstone stays) and none of unit "a/b"'s."""
    store = await open_store(bucket)
    for uid in ("a", "a/b"):
        await store.create_unit(Unit(id=UnitId(uid), created=T0, updated=T0))
        await store.commit(
            UnitId(uid), new(state(1)), expected_head=None, lock_id=None, retention=KEEP_ALL
        )
    nested_before = keys(raw, bucket, "a/b/")
    await store.delete_unit(UnitId("a"), T0)
    assert "a/terraform.tfstate" not in keys(raw, bucket)
    assert await store.purge_deleted(T0 + timedelta(days=1)) == ["a"]
    assert sorted(keys(raw, bucket)) == sorted([*nested_before, "a/__opentaco/unit.json"])
    assert [u.id for u in await store.list_units()] == ["a/b"]
    assert (await store.read_state(UnitId("a/b")))[1] == state(1)  # type: ignore[index]


async def test_deleting_a_foreign_unit_keeps_its_state_for_undelete(
    raw: Any, bucket: str, open_store: OpenStore
) -> None:
    """Deleting a Terragrunt unit frees its path for plain Terraform too, and undelete
    brings the state back, to OpenTaco and to terraform.tfstate alike."""
    original = state(7, "vpc")
    key = "live/vpc/terraform.tfstate"
    raw.put_object(Bucket=bucket, Key=key, Body=original)
    store = await open_store(bucket)
    vpc = UnitId("live/vpc")
    await store.delete_unit(vpc, T0)
    assert key not in keys(raw, bucket)
    assert await store.list_units() == []
    [gone] = await store.list_units(deleted=True)
    assert (gone.id, gone.head, gone.deleted_at) == (vpc, 0, T0)
    back = await store.undelete_unit(vpc)
    assert back.head == 0
    assert (await store.read_state(vpc))[1] == original  # type: ignore[index]
    assert body(raw, bucket, key) == original


async def test_outside_write_after_a_delete_is_a_new_unit(
    raw: Any, bucket: str, open_store: OpenStore
) -> None:
    """Terraform writing a state at a deleted unit's path makes a live unit again, while
    the deleted incarnation waits for undelete or purge."""
    store = await open_store(bucket)
    await store.create_unit(Unit(id=U, created=T0, updated=T0))
    await store.commit(U, new(state(1)), expected_head=None, lock_id=None, retention=KEEP_ALL)
    await store.delete_unit(U, T0)
    with pytest.raises(UnitNotFound):
        await store.get_unit(U)
    raw.put_object(Bucket=bucket, Key=f"{U}/terraform.tfstate", Body=state(1, "TF"))
    assert (await store.get_unit(U)).head == 0
    assert [u.id for u in await store.list_units()] == [U]
    v1 = await store.commit(
        U, new(state(2, "TF")), expected_head=0, lock_id=None, retention=KEEP_ALL
    )
    assert [v.number for v in await store.list_versions(U)] == [v1.number, 0] == [1, 0]
    with pytest.raises(UnitAlreadyExists):
        await store.undelete_unit(U)
    assert [u.id for u in await store.list_units(deleted=True)] == [U]


async def test_prefixes_isolate_stores_sharing_a_bucket(
    raw: Any, bucket: str, open_store: OpenStore
) -> None:
    """Two stores on one bucket with different prefixes never see each other's units."""
    one = await open_store(bucket, prefix="one")
    two = await open_store(bucket, prefix="two/deeper")
    await one.create_unit(Unit(id=UnitId("x"), created=T0, updated=T0))
    await two.create_unit(Unit(id=UnitId("y"), created=T0, updated=T0))
    assert [u.id for u in await one.list_units()] == ["x"]
    assert [u.id for u in await two.list_units()] == ["y"]
    assert sorted(keys(raw, bucket)) == [
        "one/x/__opentaco/unit.json",
        "two/deeper/y/__opentaco/unit.json",
    ]


async def test_listing_skips_runs_of_version_objects_across_pages(
    raw: Any, bucket: str, open_store: OpenStore
) -> None:
    """Units after a long run of version objects are still listed when pages are small;
    leftover version objects from a crashed commit change nothing."""
    store = await open_store(bucket)
    store.page_size = 2
    for uid in ("a", "b", "c"):
        await store.create_unit(Unit(id=UnitId(uid), created=T0, updated=T0))
    head = None
    for serial in range(1, 7):
        head = (
            await store.commit(
                UnitId("b"),
                new(state(serial)),
                expected_head=head,
                lock_id=None,
                retention=KEEP_ALL,
            )
        ).number
    orphan = "b/__opentaco/versions/0000000007-orphan.tfstate"
    raw.put_object(Bucket=bucket, Key=orphan, Body=b"{}")
    listed = [(u.id, u.head) for u in await store.list_units()]
    assert listed == [("a", None), ("b", 6), ("c", None)]
    assert [v.number for v in await store.list_versions(UnitId("b"))] == [6, 5, 4, 3, 2, 1]


async def test_listing_jumps_past_platform_objects(
    raw: Any, bucket: str, open_store: OpenStore
) -> None:
    """Many auth objects under __opentaco/ neither show as units nor cost a page each:
    units sorting before and after them are listed with small pages."""
    store = await open_store(bucket)
    store.page_size = 2
    for uid in ("A", "z"):
        await store.create_unit(Unit(id=UnitId(uid), created=T0, updated=T0))
    for i in range(40):
        raw.put_object(Bucket=bucket, Key=f"__opentaco/auth/api-tokens/{i:03}.json", Body=b"{}")
    calls = 0
    real = store._s3._client.list_objects_v2

    async def counting(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await real(**kwargs)

    store._s3._client.list_objects_v2 = counting  # type: ignore[method-assign]
    assert [u.id for u in await store.list_units()] == ["A", "z"]
    assert calls <= 6  # 40 platform objects at 2 a page would take 20 pages


async def test_open_fails_clearly_when_the_bucket_cannot_be_used(s3_server: S3Server) -> None:
    """A missing bucket, wrong credentials or a dead endpoint stop start-up with a clear message."""
    with pytest.raises(StorageUnavailable, match=r"no-such-bucket.*create it"):
        await S3StateStore.open(
            "no-such-bucket",
            endpoint_url=s3_server.endpoint_url,
            region=s3_server.region,
            session=s3_server.session(),
        )
    wrong = S3Server(endpoint_url=s3_server.endpoint_url, secret_key="wrong")
    with pytest.raises(StorageUnavailable, match="credentials"):
        await S3StateStore.open(
            s3_server.new_bucket(),
            endpoint_url=s3_server.endpoint_url,
            region=s3_server.region,
            session=wrong.session(),
        )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(StorageUnavailable, match="cannot use S3"):
        await S3StateStore.open(
            "bucket", endpoint_url=dead, region=s3_server.region, session=s3_server.session()
        )


async def test_racing_commits_have_one_winner_and_leave_no_orphans(
    raw: Any, bucket: str, open_store: OpenStore
) -> None:
    """Of commits racing on one head exactly one lands; racing quarantined commits all land
    with distinct numbers; losers leave no version objects behind."""
    store = await open_store(bucket)
    await store.create_unit(Unit(id=U, created=T0, updated=T0))
    outcomes: list[str] = []

    async def attempt(i: int, *, quarantined: bool) -> None:
        version = NewVersion(
            facts=read_facts(state(i)), data=state(i), created=T0, quarantined=quarantined
        )
        try:
            await store.commit(U, version, expected_head=None, lock_id=None, retention=KEEP_ALL)
            outcomes.append("won")
        except ConcurrentUpdate:
            outcomes.append("lost")

    async with anyio.create_task_group() as tg:
        for i in range(1, 7):
            tg.start_soon(functools.partial(attempt, i, quarantined=False))
    assert sorted(outcomes) == ["lost"] * 5 + ["won"]
    outcomes.clear()
    async with anyio.create_task_group() as tg:
        for i in range(10, 14):
            tg.start_soon(functools.partial(attempt, i, quarantined=True))
    assert outcomes == ["won"] * 4
    versions = await store.list_versions(U)
    assert [v.number for v in versions] == [5, 4, 3, 2, 1]
    assert (await store.get_unit(U)).head == 1
    stored = [k for k in keys(raw, bucket) if "/versions/" in k]
    assert len(stored) == 5


async def test_a_superseded_version_object_is_compressed_and_the_head_stays_plain(
    raw: Any, bucket: str, open_store: OpenStore
) -> None:
    """The commit that replaces a head rewrites the old head's object as zstd
    (marked in its metadata); the new head's object and terraform.tfstate stay
    plain JSON, and every version reads back exactly, from this store and
    from another one without its caches."""
    import zstandard

    store = await open_store(bucket)
    await store.create_unit(Unit(id=U, created=T0, updated=T0))
    first, second = state(1), state(2)
    await store.commit(U, new(first), expected_head=None, lock_id=None, retention=KEEP_ALL)
    await store.commit(U, new(second), expected_head=1, lock_id=None, retention=KEEP_ALL)
    versions = sorted(k for k in keys(raw, bucket) if "/versions/" in k)
    assert len(versions) == 2
    old = raw.get_object(Bucket=bucket, Key=versions[0])
    assert old["Metadata"]["opentaco-encoding"] == "zstd"
    assert zstandard.ZstdDecompressor().decompress(old["Body"].read()) == first
    assert body(raw, bucket, versions[1]) == second
    assert body(raw, bucket, f"{U}/terraform.tfstate") == second
    fresh = await open_store(bucket)
    for store_ in (store, fresh):
        assert (await store_.read_version(U, 1))[1] == first
        assert (await store_.read_version(U, 2))[1] == second


async def test_a_large_head_is_streamed_from_its_object(
    bucket: str, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the streaming threshold the head is read from its object a slice
    at a time, byte for byte; a superseded (compressed) one still reads whole."""
    from taco_adapters.s3 import state_store as s3_module

    monkeypatch.setattr(s3_module, "_STREAM_OVER", 100)
    store = await open_store(bucket)
    await store.create_unit(Unit(id=U, created=T0, updated=T0))
    data = b'{"version": 4, "serial": 1, "lineage": "L1", "pad": "%s"}' % (b"y" * 5000)
    await store.commit(U, new(data), expected_head=None, lock_id=None, retention=KEEP_ALL)
    fresh = await open_store(bucket)
    found = await fresh.open_state(U)
    assert found is not None
    version, reader = found
    assert reader.whole is None and reader.size == len(data)
    got = b""
    while chunk := await reader.read(1000):
        got += chunk
    await reader.aclose()
    assert got == data and version.number == 1


async def test_a_hung_endpoint_fails_within_the_timeout_budget(s3_server: S3Server) -> None:
    """An endpoint that accepts and never answers is StorageUnavailable after the
    bounded attempts of io_timeout each, not botocore's minutes."""
    with tcp_proxy() as hung:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match="cannot use S3"):
            await S3Bucket.open(
                "tfstate",
                region=s3_server.region,
                endpoint_url=hung.url,
                session=s3_server.session(),
                io_timeout=0.5,
            )
        assert time.monotonic() - started < 5
