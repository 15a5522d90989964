"""The auth ports' contract, run against every adapter (memory, SQLite, and
S3 on the session's real SeaweedFS server).

An adapter joins by adding itself to ``auth_store``'s parameters. Races
between replicas are adapter-specific and tested beside each adapter.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from taco_adapters.memory import MemoryAuthStore
from taco_adapters.s3 import S3AuthStore
from taco_adapters.sqlite import SqliteAuthStore, SqliteStateStore
from taco_core.auth import ApiToken, RefreshToken, SigningKey, hash_secret
from taco_core.ports import AuthStore
from tests.s3_server import S3Server

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def api_token(token_id: str, **kw: object) -> ApiToken:
    values: dict[str, object] = {
        "id": token_id,
        "name": f"name-{token_id}",
        "secret_hash": hash_secret(f"otc_{token_id}"),
        "subject": "alice",
        "created": T0,
        "groups": ("ops",),
    }
    values.update(kw)
    return ApiToken(**values)  # type: ignore[arg-type]


def refresh_token(token_id: str, family: str = "f1", **kw: object) -> RefreshToken:
    values: dict[str, object] = {
        "id": token_id,
        "family": family,
        "secret_hash": hash_secret(f"otr_{token_id}"),
        "subject": "alice",
        "email": "alice@example.test",
        "groups": ("ops",),
        "created": T0,
        "expires": T0 + timedelta(days=30),
    }
    values.update(kw)
    return RefreshToken(**values)  # type: ignore[arg-type]


def signing_key(kid: str, created: datetime = T0) -> SigningKey:
    return SigningKey(kid=kid, algorithm="ES256", private_pem=f"PEM {kid}", created=created)


async def open_s3(request: pytest.FixtureRequest) -> S3AuthStore:
    """A fresh bucket, under a nested prefix, with tiny listing pages so that
    every listing (tokens, a family, the expiry index) spans several pages."""
    server: S3Server = request.getfixturevalue("s3_server")
    store = await S3AuthStore.open(
        server.new_bucket(),
        prefix="team/states",
        region=server.region,
        endpoint_url=server.endpoint_url,
        session=server.session(),
    )
    store.page_size = 2
    return store


@pytest.fixture(params=["memory", "sqlite", "s3"])
async def auth_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AuthStore]:
    if request.param == "memory":
        store: AuthStore = MemoryAuthStore()
    elif request.param == "sqlite":
        store = await SqliteAuthStore.open(tmp_path / "taco.db")
    else:
        store = await open_s3(request)
    try:
        yield store
    finally:
        await store.aclose()


async def test_api_tokens_round_trip(auth_store: AuthStore) -> None:
    """A stored API token is found by secret hash and by ID, with every field."""
    token = api_token("t1", email="a@x.test", expires=T0 + timedelta(days=1), created_by="me")
    await auth_store.add_api_token(token)
    assert await auth_store.find_api_token(token.secret_hash) == token
    assert await auth_store.get_api_token("t1") == token
    assert await auth_store.find_api_token(hash_secret("otc_other")) is None
    assert await auth_store.get_api_token("nope") is None


async def test_narrowed_api_tokens_keep_their_roles(auth_store: AuthStore) -> None:
    """A token's narrowing (its roles) round-trips, and survives revocation;
    an unnarrowed token reads back as unnarrowed (None), not as no roles."""
    narrowed = api_token("n1", subject="ci-dev", groups=(), roles=("ci-dev", "reader"))
    plain = api_token("p1")
    await auth_store.add_api_token(narrowed)
    await auth_store.add_api_token(plain)
    assert await auth_store.get_api_token("n1") == narrowed
    assert await auth_store.find_api_token(plain.secret_hash) == plain
    assert plain.roles is None
    revoked = await auth_store.revoke_api_token("n1", T0)
    assert revoked is not None and revoked.roles == ("ci-dev", "reader")
    assert {t.id: t.roles for t in await auth_store.list_api_tokens()} == {
        "n1": ("ci-dev", "reader"),
        "p1": None,
    }


async def test_an_api_tokens_parent_round_trips(auth_store: AuthStore) -> None:
    """The token that created a token is kept with it, read by hash, ID and listing."""
    await auth_store.add_api_token(api_token("mother"))
    child = api_token("child", parent="mother", expires=T0 + timedelta(days=1))
    await auth_store.add_api_token(child)
    assert await auth_store.find_api_token(child.secret_hash) == child
    assert await auth_store.get_api_token("child") == child
    listed = {t.id: t.parent for t in await auth_store.list_api_tokens()}
    assert listed == {"mother": "", "child": "mother"}
    revoked = await auth_store.revoke_api_token("child", T0)
    assert revoked is not None and revoked.parent == "mother"


async def test_api_tokens_list_oldest_first(auth_store: AuthStore) -> None:
    """Listing returns every token, revoked ones too, oldest first."""
    await auth_store.add_api_token(api_token("b", created=T0 + timedelta(seconds=1)))
    await auth_store.add_api_token(api_token("a"))
    await auth_store.revoke_api_token("a", T0)
    assert [t.id for t in await auth_store.list_api_tokens()] == ["a", "b"]


async def test_revoke_is_idempotent_and_keeps_the_first_time(auth_store: AuthStore) -> None:
    """Revoking twice keeps the first revocation time; unknown IDs give None."""
    await auth_store.add_api_token(api_token("t1"))
    first = await auth_store.revoke_api_token("t1", T0 + timedelta(hours=1))
    again = await auth_store.revoke_api_token("t1", T0 + timedelta(hours=2))
    assert first is not None and again is not None
    assert first.revoked == again.revoked == T0 + timedelta(hours=1)
    assert await auth_store.revoke_api_token("nope", T0) is None


async def test_first_api_token_only_once(auth_store: AuthStore) -> None:
    """add_first_api_token stores only into an empty table, revoked tokens counting."""
    assert await auth_store.add_first_api_token(api_token("boot"))
    assert not await auth_store.add_first_api_token(api_token("boot2"))
    await auth_store.revoke_api_token("boot", T0)
    assert not await auth_store.add_first_api_token(api_token("boot3"))
    assert [t.id for t in await auth_store.list_api_tokens()] == ["boot"]


async def test_refresh_rotation_happens_once(auth_store: AuthStore) -> None:
    """Rotating marks the old token used and stores the successor; a second
    rotation of the same token changes nothing."""
    await auth_store.add_refresh_token(refresh_token("r1"))
    assert await auth_store.rotate_refresh_token("r1", refresh_token("r2"), T0)
    assert not await auth_store.rotate_refresh_token("r1", refresh_token("r3"), T0)
    old = await auth_store.find_refresh_token(hash_secret("otr_r1"))
    assert old is not None and old.used == T0
    assert await auth_store.find_refresh_token(hash_secret("otr_r2")) == refresh_token("r2")
    assert await auth_store.find_refresh_token(hash_secret("otr_r3")) is None
    assert not await auth_store.rotate_refresh_token("missing", refresh_token("r4"), T0)


async def test_family_revocation_spares_other_families(auth_store: AuthStore) -> None:
    """Revoking a family revokes all its tokens and nothing else; rotation of a
    revoked token is refused."""
    await auth_store.add_refresh_token(refresh_token("a1", "fa"))
    await auth_store.rotate_refresh_token("a1", refresh_token("a2", "fa"), T0)
    await auth_store.add_refresh_token(refresh_token("b1", "fb"))
    await auth_store.revoke_refresh_family("fa", T0)
    for token_id, revoked in (("a1", True), ("a2", True), ("b1", False)):
        found = await auth_store.find_refresh_token(hash_secret(f"otr_{token_id}"))
        assert found is not None and (found.revoked is not None) is revoked
    assert not await auth_store.rotate_refresh_token("a2", refresh_token("a3", "fa"), T0)


async def test_purge_removes_only_expired_refresh_tokens(auth_store: AuthStore) -> None:
    """Purging deletes tokens expired before the cut-off and reports how many."""
    await auth_store.add_refresh_token(refresh_token("old", expires=T0 + timedelta(days=1)))
    await auth_store.add_refresh_token(refresh_token("new", expires=T0 + timedelta(days=9)))
    assert await auth_store.purge_refresh_tokens(T0 + timedelta(days=2)) == 1
    assert await auth_store.find_refresh_token(hash_secret("otr_old")) is None
    assert await auth_store.find_refresh_token(hash_secret("otr_new")) is not None


async def test_signing_keys_activate_retire_and_delete(auth_store: AuthStore) -> None:
    """The first key activates; a replacement retires it; a stale replacement
    loses to the active key; retired keys can be deleted, the active one not."""
    k1 = signing_key("k1")
    assert await auth_store.activate_signing_key(k1, replacing=None) == k1
    k2 = signing_key("k2", T0 + timedelta(days=1))
    assert await auth_store.activate_signing_key(k2, replacing="k1") == k2
    loser = signing_key("k3", T0 + timedelta(days=2))
    assert await auth_store.activate_signing_key(loser, replacing="k1") == k2
    assert await auth_store.activate_signing_key(loser, replacing=None) == k2
    keys = await auth_store.list_signing_keys()
    assert [k.kid for k in keys] == ["k2", "k1"]
    assert keys[1].retired == k2.created and keys[0].retired is None
    await auth_store.delete_signing_keys(["k1", "k2", "unknown"])
    assert [k.kid for k in await auth_store.list_signing_keys()] == ["k2"]


async def test_sqlite_decides_races_between_processes(tmp_path: Path) -> None:
    """Two stores on one file (as two replicas): exactly one bootstrap, one
    rotation of a refresh token and one new signing key win."""
    path = tmp_path / "taco.db"
    state = await SqliteStateStore.open(path)
    a = await SqliteAuthStore.open(path)
    b = await SqliteAuthStore.open(path)
    try:
        await a.add_refresh_token(refresh_token("r1"))
        results: list[bool] = []
        keys: list[str] = []

        async def race(store: SqliteAuthStore, n: int) -> None:
            results.append(await store.add_first_api_token(api_token(f"boot{n}")))
            results.append(await store.rotate_refresh_token("r1", refresh_token(f"r2-{n}"), T0))
            active = await store.activate_signing_key(signing_key(f"k{n}"), replacing=None)
            keys.append(active.kid)

        async with anyio.create_task_group() as tg:
            for n in range(4):
                tg.start_soon(race, a if n % 2 else b, n)
        assert results.count(True) == 2
        assert len(set(keys)) == 1
        assert len(await a.list_api_tokens()) == 1
        assert await state.list_units() == []
    finally:
        for store in (a, b, state):
            await store.aclose()


async def test_a_secret_is_created_once_and_never_changes(auth_store: AuthStore) -> None:
    """The first candidate stored wins; later candidates get the stored bytes."""
    first = await auth_store.secret("signed-urls", b"\x00first\xff")
    assert first == b"\x00first\xff"
    assert await auth_store.secret("signed-urls", b"second") == first
    assert await auth_store.secret("s3-credentials", b"other") == b"other"


async def test_concurrent_creators_of_a_secret_all_get_the_winner(auth_store: AuthStore) -> None:
    """Of many processes creating one secret at once, exactly one candidate wins."""
    got: list[bytes] = []

    async def create(n: int) -> None:
        got.append(await auth_store.secret("race", f"candidate-{n}".encode()))

    async with anyio.create_task_group() as tg:
        for n in range(8):
            tg.start_soon(create, n)
    assert len(set(got)) == 1
    assert got[0] in {f"candidate-{n}".encode() for n in range(8)}


async def test_sqlite_upgrades_a_database_made_before_token_roles_and_parents(
    tmp_path: Path,
) -> None:
    """A file whose token table predates narrowing and the parent link gets the
    columns on open: its tokens read back unnarrowed and parentless, and new
    tokens keep both."""
    path = tmp_path / "taco.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "CREATE TABLE auth_api_tokens (id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL "
            "UNIQUE, name TEXT NOT NULL, subject TEXT NOT NULL, email TEXT NOT NULL, "
            "groups_json TEXT NOT NULL, created TEXT NOT NULL, created_by TEXT NOT NULL, "
            "expires TEXT, revoked TEXT)"
        )
        conn.execute(
            "INSERT INTO auth_api_tokens VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
            ("old", hash_secret("otc_old"), "old", "admin", "", '["ops"]', T0.isoformat(), ""),
        )
        conn.commit()
    first, second = await SqliteAuthStore.open(path), await SqliteAuthStore.open(path)
    try:
        old = await second.get_api_token("old")
        assert old is not None and old.roles is None and old.groups == ("ops",)
        assert old.parent == ""
        newer = api_token("new", roles=("reader",), parent="old")
        await first.add_api_token(newer)
        assert await second.get_api_token("new") == newer
    finally:
        await first.aclose()
        await second.aclose()
