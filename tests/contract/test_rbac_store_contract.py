"""The ``RbacStore`` contract, run against every adapter (memory, SQLite, and
S3 on the session's real SeaweedFS server): every field round-trips,
compare-and-swap on the version, exactly one winner among concurrent savers
(tasks, and separate processes for the durable stores), and a load after a
save never returns an older policy.

An adapter joins by adding itself to ``BACKENDS``: an async context manager
yielding a store and a way to open another replica on the same storage.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from taco_adapters.memory import MemoryRbacStore
from taco_adapters.s3 import S3RbacStore
from taco_adapters.sqlite import SqliteRbacStore
from taco_adapters.wire import policy_bytes, policy_from_bytes
from taco_core.errors import StorageUnavailable
from taco_core.ports import RbacStore
from taco_core.rbac import ACTIONS, Effect, Permission, RbacPolicy, Role, Rule
from taco_core.rbac_policy import assign_role, initial_policy
from tests.s3_server import S3Server

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]
REPLICAS = 4


def rich_policy(version: int = 1) -> RbacPolicy:
    """A policy using every field and the awkward values: deny rules, several
    rules and patterns, unicode text, microsecond times, no times at all,
    subjects that look like e-mails, URLs and CI claims."""
    permissions = {
        "dev-write": Permission(
            id="dev-write",
            rules=(
                Rule(Effect.ALLOW, ("unit.read", "unit.write", "unit.lock"), ("dev/*",)),
                Rule(Effect.DENY, ("unit.write",), ("dev/frozen/*", "dev/*/db")),
            ),
            name="Dév writers ✓",
            description='quotes " and \\ backslashes,\nnewlines',
            created_at=T0,
            created_by="alice@example.test (API token 0123abcd)",
        ),
        "outputs": Permission(
            id="outputs",
            rules=(Rule(Effect.ALLOW, ("unit.read_outputs",), ("prod/*", "shared.net")),),
        ),
        "everything": Permission(
            id="everything", rules=(Rule(Effect.ALLOW, ("*",), ("*",)),), name="All"
        ),
    }
    roles = {
        "ci-dev": Role(
            id="ci-dev",
            permissions=("dev-write", "outputs"),
            name="CI (dev)",
            description="",
            created_at=T0,
            created_by="root",
        ),
        "admin": Role(id="admin", permissions=("everything",)),
        "empty": Role(id="empty"),
    }
    assignments = {
        "ci-dev": ("ci-dev",),
        "alice@example.test": ("admin", "ci-dev"),
        "repo:org/app:ref:refs/heads/main": ("ci-dev",),
        "https://idp.example.test/users/ü": ("admin",),
    }
    return RbacPolicy(
        version=version, permissions=permissions, roles=roles, assignments=assignments
    )


def next_of(policy: RbacPolicy, subject: str) -> RbacPolicy:
    """The next version, with ``subject`` given the role ``empty``."""
    return assign_role(policy, subject, "empty")


_texts = st.text(max_size=20)
_ids = st.from_regex(r"[A-Za-z0-9._-]{1,12}", fullmatch=True)
_times = st.none() | st.datetimes(
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone.min])
)
_rules = st.builds(
    Rule,
    effect=st.sampled_from(Effect),
    actions=st.lists(st.sampled_from(sorted(ACTIONS)), min_size=1, max_size=3),
    resources=st.lists(_texts, min_size=1, max_size=3),
)
_permissions = st.builds(
    Permission,
    id=_ids,
    rules=st.lists(_rules, max_size=3),
    name=_texts,
    description=_texts,
    created_at=_times,
    created_by=_texts,
)
_roles = st.builds(
    Role,
    id=_ids,
    permissions=st.lists(_ids, max_size=3),
    name=_texts,
    description=_texts,
    created_at=_times,
    created_by=_texts,
)
policies = st.builds(
    RbacPolicy,
    version=st.integers(min_value=0, max_value=2**53),
    permissions=st.dictionaries(_ids, _permissions, max_size=3),
    roles=st.dictionaries(_ids, _roles, max_size=3),
    assignments=st.dictionaries(_texts, st.lists(_ids, max_size=3).map(tuple), max_size=3),
)


@given(policies)
def test_the_stored_document_round_trips_any_policy(policy: RbacPolicy) -> None:
    """The codec the durable stores share gives back every field of any policy."""
    assert policy_from_bytes(policy_bytes(policy, write="nonce"), "test") == policy


# -- backends ------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _memory(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    store = MemoryRbacStore()

    @contextlib.asynccontextmanager
    async def replica() -> AsyncIterator[RbacStore]:
        # One process: every "replica" is the same store.
        yield store

    yield store, replica


@contextlib.asynccontextmanager
async def _sqlite(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    path = tmp_path / "taco.db"

    @contextlib.asynccontextmanager
    async def replica() -> AsyncIterator[RbacStore]:
        store = await SqliteRbacStore.open(path)
        try:
            yield store
        finally:
            await store.aclose()

    async with replica() as store:
        yield store, replica


@contextlib.asynccontextmanager
async def _s3(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    server: S3Server = request.getfixturevalue("s3_server")
    bucket = server.new_bucket()

    @contextlib.asynccontextmanager
    async def replica() -> AsyncIterator[RbacStore]:
        # Its own client, as another opentacosvc process would have.
        store = await S3RbacStore.open(
            bucket,
            prefix="team/states",
            region=server.region,
            endpoint_url=server.endpoint_url,
            session=server.session(),
        )
        try:
            yield store
        finally:
            await store.aclose()

    async with replica() as store:
        yield store, replica


BACKENDS: dict[str, Callable[[Path, pytest.FixtureRequest], Any]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "s3": _s3,
}


@pytest.fixture(params=sorted(BACKENDS))
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    async with BACKENDS[request.param](tmp_path, request) as pair:
        yield pair


# -- the contract ----------------------------------------------------------------------


async def test_nothing_stored_loads_none(stores: Any) -> None:
    """A fresh storage has no policy."""
    store, _ = stores
    assert await store.load() is None


async def test_every_field_round_trips(stores: Any) -> None:
    """What was saved is what a fresh replica loads, field for field."""
    store, replica = stores
    policy = rich_policy()
    assert await store.save(policy, None)
    assert await store.load() == policy
    async with replica() as other:
        loaded = await other.load()
    assert loaded == policy
    assert loaded.permissions["dev-write"].created_at == T0
    assert loaded.permissions["outputs"].created_at is None
    assert loaded.permissions["dev-write"].rules[1].effect is Effect.DENY


async def test_first_save_happens_once(stores: Any) -> None:
    """Creating (expected None) succeeds only while nothing is stored."""
    store, _ = stores
    first = initial_policy(["admin"], T0)
    assert await store.save(first, None)
    assert not await store.save(initial_policy(["someone-else"], T0), None)
    assert await store.load() == first


async def test_save_is_compare_and_swap_on_the_version(stores: Any) -> None:
    """A save expecting the stored version wins; any other expectation
    (older, newer, or "nothing stored") changes nothing."""
    store, _ = stores
    v1 = rich_policy()
    await store.save(v1, None)
    v2 = next_of(v1, "bob")
    assert await store.save(v2, 1)
    assert not await store.save(next_of(v1, "carol"), 1)
    assert not await store.save(attrs.evolve(next_of(v2, "dave"), version=9), 8)
    assert await store.load() == v2
    v3 = next_of(v2, "erin")
    assert await store.save(v3, 2)
    assert await store.load() == v3


async def test_concurrent_savers_have_exactly_one_winner(stores: Any) -> None:
    """Replicas that read the same version and save at once: one wins, the
    others are told so, and the winner's policy is what is stored."""
    store, replica = stores
    base = rich_policy()
    await store.save(base, None)
    results: dict[str, bool] = {}
    ready: list[str] = []
    all_ready, go = anyio.Event(), anyio.Event()

    async def racer(name: str) -> None:
        async with replica() as mine:
            loaded = await mine.load()
            assert loaded == base
            ready.append(name)
            if len(ready) == REPLICAS:
                all_ready.set()
            await go.wait()
            results[name] = await mine.save(next_of(loaded, name), loaded.version)

    async with anyio.create_task_group() as tg:
        for n in range(REPLICAS):
            tg.start_soon(racer, f"racer-{n}")
        await all_ready.wait()
        go.set()
    winners = [name for name, won in results.items() if won]
    assert len(winners) == 1, results
    assert await store.load() == next_of(base, winners[0])


async def test_a_load_after_a_save_is_never_older(stores: Any) -> None:
    """Another replica, however it caches, sees every save at once."""
    store, replica = stores
    policy = rich_policy()
    await store.save(policy, None)
    async with replica() as reader:
        assert await reader.load() == policy
        for n in range(5):
            newer = next_of(policy, f"subject-{n}")
            assert await store.save(newer, policy.version)
            seen = await reader.load()
            assert seen is not None and seen.version >= newer.version
            assert seen == newer
            policy = newer


# -- real processes (the durable stores) -------------------------------------------------


def race_processes(kind_args: list[list[str]], env: dict[str, str]) -> list[dict[str, Any]]:
    """Start one racer process per argument list, wait until every one has
    loaded the policy, release them together, and collect their answers."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.contract.rbac_racer", *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in kind_args
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.strip() == "ready", (line, proc.stderr.read() if proc.stderr else "")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        answers = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            answers.append(json.loads(out.strip().splitlines()[-1]))
        return answers
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENTACO_", "AWS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


async def test_sqlite_processes_racing_have_exactly_one_winner(tmp_path: Path) -> None:
    """Separate processes on one SQLite file: one save wins."""
    path = tmp_path / "taco.db"
    store = await SqliteRbacStore.open(path)
    try:
        base = rich_policy()
        await store.save(base, None)
        answers = await anyio.to_thread.run_sync(
            race_processes,
            [["sqlite", str(path), f"proc-{n}"] for n in range(REPLICAS)],
            _child_env(),
        )
        winners = [a["name"] for a in answers if a["won"]]
        assert len(winners) == 1, answers
        assert await store.load() == next_of(base, winners[0])
    finally:
        await store.aclose()


async def test_s3_processes_racing_have_exactly_one_winner(s3_server: S3Server) -> None:
    """Separate processes, each with its own S3 client, on one bucket: one save wins."""
    bucket = s3_server.new_bucket()
    store = await S3RbacStore.open(
        bucket,
        prefix="p",
        region=s3_server.region,
        endpoint_url=s3_server.endpoint_url,
        session=s3_server.session(),
    )
    try:
        base = rich_policy()
        await store.save(base, None)
        env = {
            **_child_env(),
            "AWS_ACCESS_KEY_ID": s3_server.access_key,
            "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        }
        args = [
            ["s3", s3_server.endpoint_url, s3_server.region, bucket, "p", f"proc-{n}"]
            for n in range(REPLICAS)
        ]
        answers = await anyio.to_thread.run_sync(race_processes, args, env)
        winners = [a["name"] for a in answers if a["won"]]
        assert len(winners) == 1, answers
        assert await store.load() == next_of(base, winners[0])
    finally:
        await store.aclose()


# -- what each durable store refuses to guess about -----------------------------------------


async def test_sqlite_unreadable_policy_is_storage_unavailable(tmp_path: Path) -> None:
    """A damaged row, or one written by a newer OpenTaco, is reported, not guessed at."""
    store = await SqliteRbacStore.open(tmp_path / "taco.db")
    try:
        await store.save(rich_policy(), None)
        for document in ("not json", json.dumps({"format": 99, "version": 2})):

            def damage(conn: Any, doc: str = document) -> None:
                conn.execute("UPDATE rbac_policy SET version = version + 1, document = ?", (doc,))

            await store._db.run(damage, write=True)
            with pytest.raises(StorageUnavailable, match="RBAC policy"):
                await store.load()
    finally:
        await store.aclose()


async def test_s3_policy_object_lives_under_the_platform_folder(s3_server: S3Server) -> None:
    """The policy is one object under <prefix>/__opentaco/, never inside a
    unit's folder; a damaged one is StorageUnavailable."""
    bucket = s3_server.new_bucket()
    store = await S3RbacStore.open(
        bucket,
        prefix="team/states",
        region=s3_server.region,
        endpoint_url=s3_server.endpoint_url,
        session=s3_server.session(),
    )
    try:
        await store.save(rich_policy(), None)
        client = s3_server.sync_client()
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert keys == ["team/states/__opentaco/rbac/policy.json"]
        client.put_object(Bucket=bucket, Key=keys[0], Body=b"[1, 2]")
        with pytest.raises(StorageUnavailable, match="RBAC policy"):
            await store.load()
    finally:
        await store.aclose()
