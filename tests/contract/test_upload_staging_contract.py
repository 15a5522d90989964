"""The ``UploadStaging`` contract (the S3 endpoint's multipart parts), run against every
adapter: memory, SQLite, and S3 on the session's real SeaweedFS server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taco_adapters.memory import MemoryUploadStaging
from taco_adapters.s3 import S3UploadStaging
from taco_adapters.sqlite import SqliteStateStore, SqliteUploadStaging
from taco_core.model import StagedUpload
from taco_core.ports import UploadStaging
from tests.s3_server import S3Server

NOW = datetime.now(UTC).replace(microsecond=0)


def upload(upload_id: str, started: datetime = NOW) -> StagedUpload:
    return StagedUpload(
        id=upload_id, target="opentaco/app/terraform.tfstate", owner="token:t1", started=started
    )


@pytest.fixture(params=["memory", "sqlite", "s3"])
async def staging(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UploadStaging]:
    if request.param == "memory":
        yield MemoryUploadStaging()
        return
    if request.param == "sqlite":
        # Beside a state store in the same file, as the service runs it.
        states = await SqliteStateStore.open(tmp_path / "taco.db")
        store = await SqliteUploadStaging.open(tmp_path / "taco.db")
        try:
            yield store
        finally:
            await store.aclose()
            await states.aclose()
        return
    server: S3Server = request.getfixturevalue("s3_server")
    s3 = await S3UploadStaging.open(
        server.new_bucket(),
        prefix="team/states",
        region=server.region,
        endpoint_url=server.endpoint_url,
        session=server.session(),
    )
    s3.page_size = 2
    try:
        yield s3
    finally:
        await s3.aclose()


async def test_upload_round_trips(staging: UploadStaging) -> None:
    """A begun upload reads back with every field; an unknown one is None."""
    await staging.begin_upload(upload("u1"))
    assert await staging.get_upload("u1") == upload("u1")
    assert await staging.get_upload("nope") is None
    assert await staging.get_upload("../u1") is None


async def test_parts_are_staged_replaced_and_sized(staging: UploadStaging) -> None:
    """Parts keep their bytes; a part sent again replaces the first; sizes are by number."""
    await staging.begin_upload(upload("u1"))
    assert await staging.put_part("u1", 2, b"second")
    assert await staging.put_part("u1", 1, b"first-try")
    assert await staging.put_part("u1", 1, b"first")
    assert await staging.put_part("u1", 10, b"x" * 1000)
    assert dict(await staging.part_sizes("u1")) == {1: 5, 2: 6, 10: 1000}
    assert list(await staging.part_sizes("u1")) == [1, 2, 10]
    assert await staging.read_part("u1", 1) == b"first"
    assert await staging.read_part("u1", 3) is None


async def test_parts_of_unknown_uploads_are_refused(staging: UploadStaging) -> None:
    """No part is kept for an upload that was never begun or has ended."""
    assert not await staging.put_part("ghost", 1, b"data")
    assert await staging.part_sizes("ghost") == {}
    await staging.begin_upload(upload("u1"))
    await staging.end_upload("u1")
    assert not await staging.put_part("u1", 1, b"data")
    assert await staging.read_part("u1", 1) is None


async def test_ending_forgets_the_upload_and_its_parts_only(staging: UploadStaging) -> None:
    """end_upload drops one upload with its parts, leaves the others, and is idempotent."""
    await staging.begin_upload(upload("u1"))
    await staging.begin_upload(upload("u2"))
    await staging.put_part("u1", 1, b"one")
    await staging.put_part("u2", 1, b"two")
    await staging.end_upload("u1")
    await staging.end_upload("u1")
    assert await staging.get_upload("u1") is None
    assert await staging.part_sizes("u1") == {}
    assert await staging.read_part("u2", 1) == b"two"


async def test_purge_ends_uploads_started_before_the_cutoff(staging: UploadStaging) -> None:
    """Abandoned uploads (started before the cutoff) go with their parts; newer ones stay."""
    await staging.begin_upload(upload("old", NOW - timedelta(days=2)))
    await staging.begin_upload(upload("new"))
    await staging.put_part("old", 1, b"a")
    await staging.put_part("new", 1, b"b")
    assert await staging.purge_uploads(NOW - timedelta(days=1)) == 1
    assert await staging.get_upload("old") is None
    assert await staging.read_part("old", 1) is None
    assert await staging.get_upload("new") == upload("new")
    assert await staging.purge_uploads(NOW - timedelta(days=1)) == 0
