"""The ``AuditLog`` port's contract, run against every adapter (memory, SQLite,
and S3 on the session's real SeaweedFS server).

The S3 log is opened with tiny listing pages and a small scan budget, so its
queries span several ``ListObjectsV2`` pages and answer short pages with a
cursor: following ``next`` must still give exactly the matching records.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taco_adapters.memory import MemoryAuditLog
from taco_adapters.s3 import S3AuditLog, S3Bucket
from taco_adapters.sqlite import SqliteAuditLog
from taco_core.audit import AuditQuery, AuditRecord, new_record_id
from taco_core.ports import AuditLog
from tests.s3_server import S3Server

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def record(at: datetime, **kw: object) -> AuditRecord:
    values: dict[str, object] = {
        "id": new_record_id(at),
        "at": at,
        "action": "state.write",
        "subject": "alice",
        "principal_kind": "user",
        "unit_id": "app/prod",
    }
    values.update(kw)
    return AuditRecord(**values)  # type: ignore[arg-type]


async def open_s3(request: pytest.FixtureRequest, bucket: str | None = None) -> S3AuditLog:
    server: S3Server = request.getfixturevalue("s3_server")
    opened = await S3Bucket.open(
        bucket or server.new_bucket(),
        region=server.region,
        endpoint_url=server.endpoint_url,
        session=server.session(),
    )
    log = S3AuditLog(opened, prefix="team/states")
    log._owned = opened
    log.page_size = 3
    log.scan_budget = 8
    return log


@pytest.fixture(params=["memory", "sqlite", "s3"])
async def audit_log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AuditLog]:
    log: AuditLog
    if request.param == "memory":
        log = MemoryAuditLog()
    elif request.param == "sqlite":
        log = await SqliteAuditLog.open(tmp_path / "taco.db")
    else:
        log = await open_s3(request)
    try:
        yield log
    finally:
        await log.aclose()


async def every_page(log: AuditLog, query: AuditQuery) -> list[AuditRecord]:
    """Follow ``next`` from ``query`` until the trail ends (every cursor moves on)."""
    found: list[AuditRecord] = []
    while True:
        page = await log.query(query)
        found.extend(page.records)
        if page.next is None:
            return found
        assert len(page.records) <= query.limit
        assert page.next > query.after, "the cursor must move forward"
        query = AuditQuery(
            unit=query.unit,
            subject=query.subject,
            since=query.since,
            limit=query.limit,
            after=page.next,
        )


async def test_records_round_trip_in_time_order(audit_log: AuditLog) -> None:
    """Every field comes back as appended, and records come oldest first."""
    late = record(
        T0 + timedelta(seconds=2),
        action="lock",
        principal_kind="api_token",
        token_id="tok1",
        version=None,
        lock_id="L1",
        detail="Terraform apply by ünïcødé@host",
        origin="10.0.0.1",
        surface="backend",
        request_id="req-1",
    )
    early = record(T0, version=7)
    await audit_log.append([late, early])
    page = await audit_log.query(AuditQuery())
    assert page.records == (early, late)
    assert page.next is None


async def test_appending_a_record_again_changes_nothing(audit_log: AuditLog) -> None:
    """append is idempotent per record ID: a retried batch stores no duplicate."""
    batch = [record(T0), record(T0 + timedelta(seconds=1))]
    await audit_log.append(batch)
    await audit_log.append(batch)
    assert list((await audit_log.query(AuditQuery())).records) == batch


async def test_filters_select_exact_unit_and_subject(audit_log: AuditLog) -> None:
    """unit and subject select exact matches only, alone or together."""
    a = record(T0, unit_id="app/prod", subject="alice")
    b = record(T0 + timedelta(seconds=1), unit_id="app/prod2", subject="alice")
    c = record(T0 + timedelta(seconds=2), unit_id="app/prod", subject="bob")
    d = record(T0 + timedelta(seconds=3), unit_id="", subject="alice", action="access.denied")
    await audit_log.append([a, b, c, d])
    assert await every_page(audit_log, AuditQuery(unit="app/prod")) == [a, c]
    assert await every_page(audit_log, AuditQuery(subject="alice")) == [a, b, d]
    assert await every_page(audit_log, AuditQuery(unit="app/prod", subject="bob")) == [c]
    assert await every_page(audit_log, AuditQuery(unit="app")) == []


async def test_since_includes_its_own_instant(audit_log: AuditLog) -> None:
    """since keeps records made at that instant and after, not a microsecond before."""
    before = record(T0 - timedelta(microseconds=1))
    at = record(T0)
    after = record(T0 + timedelta(hours=1))
    await audit_log.append([before, at, after])
    assert await every_page(audit_log, AuditQuery(since=T0)) == [at, after]


async def test_pages_follow_each_other_without_gaps(audit_log: AuditLog) -> None:
    """Following next pages through everything exactly once; a full last page ends."""
    records = [record(T0 + timedelta(seconds=i)) for i in range(6)]
    await audit_log.append(records)
    assert await every_page(audit_log, AuditQuery(limit=2)) == records
    everything = await audit_log.query(AuditQuery(limit=6))
    assert list(everything.records) == records
    assert everything.next is None


async def test_a_cursor_and_since_combine(audit_log: AuditLog) -> None:
    """With both, the later bound wins: after a cursor older than since, since rules."""
    records = [record(T0 + timedelta(seconds=i)) for i in range(4)]
    await audit_log.append(records)
    since = T0 + timedelta(seconds=2)
    assert await every_page(audit_log, AuditQuery(since=since, after=records[0].id)) == [
        *records[2:]
    ]
    assert await every_page(audit_log, AuditQuery(since=T0, after=records[2].id)) == [records[3]]


async def test_purge_forgets_only_older_records(audit_log: AuditLog) -> None:
    """purge(before) deletes records made before it, keeps the rest, counts what went."""
    old = [record(T0 - timedelta(days=400 - i)) for i in range(3)]
    kept = [record(T0), record(T0 + timedelta(days=1))]
    await audit_log.append([*old, *kept])
    assert await audit_log.purge(T0) == 3
    assert await every_page(audit_log, AuditQuery()) == kept
    assert await audit_log.purge(T0) == 0


async def test_random_trails_page_like_a_filtered_list(audit_log: AuditLog) -> None:
    """Against a seeded random trail, paging any query gives exactly the
    records the query matches, in ID order."""
    rng = random.Random(17)
    records = [
        record(
            T0 + timedelta(seconds=rng.randrange(60)),
            unit_id=rng.choice(["a", "b", "c/d", ""]),
            subject=rng.choice(["alice", "bob"]),
        )
        for _ in range(30)
    ]
    await audit_log.append(records)
    ordered = sorted(records, key=lambda r: r.id)
    queries: list[Callable[[], AuditQuery]] = [
        lambda: AuditQuery(limit=rng.randrange(1, 8)),
        lambda: AuditQuery(unit=rng.choice(["a", "c/d", ""]), limit=rng.randrange(1, 8)),
        lambda: AuditQuery(subject="bob", since=T0 + timedelta(seconds=rng.randrange(60))),
    ]
    for _ in range(6):
        for make in queries:
            query = make()
            expected = [r for r in ordered if query.matches(r)]
            assert await every_page(audit_log, query) == expected, query


async def test_sqlite_logs_on_one_file_share_their_records(tmp_path: Path) -> None:
    """Two processes' logs on one SQLite file read each other's records."""
    one = await SqliteAuditLog.open(tmp_path / "taco.db")
    two = await SqliteAuditLog.open(tmp_path / "taco.db")
    try:
        written = record(T0)
        await one.append([written])
        assert (await two.query(AuditQuery())).records == (written,)
    finally:
        await one.aclose()
        await two.aclose()


async def test_s3_logs_on_one_bucket_share_their_records(request: pytest.FixtureRequest) -> None:
    """Two replicas' logs on one bucket and prefix read each other's records."""
    server: S3Server = request.getfixturevalue("s3_server")
    bucket = server.new_bucket()
    one, two = await open_s3(request, bucket), await open_s3(request, bucket)
    try:
        written = record(T0)
        await one.append([written])
        assert (await two.query(AuditQuery())).records == (written,)
    finally:
        await one.aclose()
        await two.aclose()
