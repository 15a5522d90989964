"""The S3 auth stores on a real SeaweedFS server: races between replicas, the
layout in the bucket, and the service wired to them.

Each replica is its own store with its own client, as two ``opentacosvc``
processes would be, so nothing but S3 decides a race.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import anyio
import pytest
from botocore.exceptions import ClientError
from starlette.testclient import TestClient

from taco_adapters.clock import ManualClock
from taco_adapters.identity.access_tokens import JoseAccessTokens
from taco_adapters.memory import MemoryAuthStore
from taco_adapters.s3 import S3AuthStore, S3Bucket, S3StateStore
from taco_adapters.s3.bucket import client_config
from taco_core.auth import REFRESH_TOKEN_PREFIX, hash_secret, new_secret
from taco_core.auth_service import AuthService
from taco_core.errors import StorageUnavailable, Unauthenticated
from taco_http.settings import Settings
from taco_http.wiring import open_adapters
from tests.contract.test_auth_store_contract import T0, api_token, refresh_token, signing_key
from tests.s3_server import S3Server

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

PREFIX = "states"
REPLICAS = 4
TOKEN = re.compile(r"otc_[A-Za-z0-9_-]{43}")


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    return s3_server.new_bucket()


@pytest.fixture
async def replicas(s3_server: S3Server, bucket: str) -> AsyncIterator[list[S3AuthStore]]:
    """Several stores on one bucket and prefix, each with its own client."""
    stores = [
        await S3AuthStore.open(
            bucket,
            prefix=PREFIX,
            region=s3_server.region,
            endpoint_url=s3_server.endpoint_url,
            session=s3_server.session(),
        )
        for _ in range(REPLICAS)
    ]
    try:
        yield stores
    finally:
        for store in stores:
            await store.aclose()


def keys(s3: S3Server, bucket: str) -> list[str]:
    found: list[str] = []
    for page in s3.sync_client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found += [o["Key"] for o in page.get("Contents", [])]
    return found


async def race(calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Start every call at once; their results (or exceptions), in order."""
    results: list[Any] = [None] * len(calls)

    async def run(i: int) -> None:
        try:
            results[i] = await calls[i]()
        except Exception as exc:
            results[i] = exc

    async with anyio.create_task_group() as tg:
        for i in range(len(calls)):
            tg.start_soon(run, i)
    return results


async def test_concurrent_rotation_of_one_refresh_token_has_one_winner(
    replicas: list[S3AuthStore],
) -> None:
    """Replicas rotating the same refresh token at once: exactly one succeeds,
    and only its successor exists afterwards."""
    await replicas[0].add_refresh_token(refresh_token("r1"))
    won = await race(
        [
            functools.partial(store.rotate_refresh_token, "r1", refresh_token(f"r2-{n}"), T0)
            for n, store in enumerate(replicas * 2)
        ]
    )
    assert won.count(True) == 1, won
    winner = won.index(True)
    for n in range(len(won)):
        found = await replicas[0].find_refresh_token(hash_secret(f"otr_r2-{n}"))
        assert (found is not None) is (n == winner)
    old = await replicas[1].find_refresh_token(hash_secret("otr_r1"))
    assert old is not None and old.used == T0


async def test_reused_refresh_token_racing_its_owner_revokes_the_session(
    replicas: list[S3AuthStore],
) -> None:
    """A thief and the owner refresh one token through two replicas at once:
    one gets new tokens, the other is refused as reuse, and the session is
    revoked, the winner's new refresh token included."""
    clock = ManualClock(T0)
    services = []
    for store in replicas[:2]:
        codec = await JoseAccessTokens.open(
            store, issuer="https://taco.test", now=T0, keep_for=timedelta(hours=1)
        )
        services.append(AuthService(store, codec, clock))
    secret = new_secret(REFRESH_TOKEN_PREFIX)
    await replicas[0].add_refresh_token(refresh_token("r1", secret_hash=hash_secret(secret)))
    results = await race([functools.partial(s.refresh, secret) for s in services])
    refused = [r for r in results if isinstance(r, Unauthenticated)]
    issued = [r for r in results if not isinstance(r, Exception)]
    assert len(refused) == 1 and len(issued) == 1, results
    assert "already used" in refused[0].message
    successor = await replicas[2].find_refresh_token(hash_secret(issued[0].refresh_token))
    assert successor is not None and successor.revoked is not None
    with pytest.raises(Unauthenticated):
        await services[1].refresh(issued[0].refresh_token)


async def revoke_while_rotating(
    rotator: S3AuthStore, revoker: S3AuthStore, family: str, rotations: int
) -> tuple[list[str], list[bool]]:
    """Rotate a new session's chain as fast as possible while the other replica
    revokes it once the chain has rotated ``rotations`` times. Returns the IDs
    of every token the chain produced, and the outcome of each rotation that
    ended after the revocation returned."""
    await rotator.add_refresh_token(refresh_token(f"{family}-0", family))
    produced = [f"{family}-0"]
    after: list[bool] = []
    revoked = anyio.Event()
    rotating = anyio.Event()

    async def rotate_chain() -> None:
        while True:
            n = len(produced)
            ok = await rotator.rotate_refresh_token(
                f"{family}-{n - 1}", refresh_token(f"{family}-{n}", family), T0
            )
            if revoked.is_set():
                after.append(ok)
            if not ok:
                return
            produced.append(f"{family}-{n}")
            if len(produced) > rotations:
                rotating.set()

    async def revoke() -> None:
        await rotating.wait()
        await revoker.revoke_refresh_family(family, T0)
        revoked.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(rotate_chain)
        tg.start_soon(revoke)
    return produced, after


async def test_revocation_racing_rotation_leaves_no_live_token(
    replicas: list[S3AuthStore],
) -> None:
    """While one replica keeps rotating a session as fast as it can, another
    revokes it: once the revocation returns, every token the chain produced is
    revoked and no rotation started after it succeeds."""
    for attempt in range(3):
        family = f"fam{attempt}"
        produced, after = await revoke_while_rotating(
            replicas[0], replicas[1], family, rotations=attempt + 1
        )
        assert len(produced) > 1, "the chain never rotated before the revocation"
        for token_id in produced:
            found = await replicas[2].find_refresh_token(hash_secret(f"otr_{token_id}"))
            assert found is not None and found.revoked is not None, token_id
        # The first one may have been in flight when the revocation returned.
        assert True not in after[1:]


async def test_concurrent_bootstrap_creates_one_admin_token(
    s3_server: S3Server, bucket: str, replicas: list[S3AuthStore]
) -> None:
    """Replicas starting together on an empty bucket: exactly one bootstrap
    token is stored; the losers leave nothing behind."""
    won = await race(
        [
            functools.partial(store.add_first_api_token, api_token(f"boot{n}"))
            for n, store in enumerate(replicas * 2)
        ]
    )
    assert won.count(True) == 1, won
    winner = f"boot{won.index(True)}"
    for store in replicas:
        assert [t.id for t in await store.list_api_tokens()] == [winner]
        assert not await store.add_first_api_token(api_token("late"))
    for n in range(len(won)):
        found = await replicas[-1].find_api_token(hash_secret(f"otc_boot{n}"))
        assert (found is not None) is (f"boot{n}" == winner)
    records = [k for k in keys(s3_server, bucket) if "/api-tokens/" in k]
    assert len(records) == 1


async def test_a_bootstrap_that_died_halfway_is_invisible_and_redone(
    replicas: list[S3AuthStore],
) -> None:
    """A replica that stored its bootstrap record but died before deciding left
    a token nobody ever saw: it does not authenticate, is not listed, and the
    next start bootstraps for real."""
    ghost = api_token("ghost")
    await replicas[0]._store_api(ghost, first=True)
    assert await replicas[1].find_api_token(ghost.secret_hash) is None
    assert await replicas[1].list_api_tokens() == []
    assert await replicas[1].add_first_api_token(api_token("boot"))
    assert [t.id for t in await replicas[2].list_api_tokens()] == ["boot"]
    assert await replicas[2].find_api_token(ghost.secret_hash) is None
    assert await replicas[2].revoke_api_token("ghost", T0) is None


async def test_an_api_token_stored_first_prevents_any_bootstrap(
    replicas: list[S3AuthStore],
) -> None:
    """A token created before any bootstrap (an OIDC install) counts as the
    first: a later bootstrap on any replica does nothing."""
    await replicas[0].add_api_token(api_token("ci"))
    assert not await replicas[1].add_first_api_token(api_token("boot"))
    assert [t.id for t in await replicas[2].list_api_tokens()] == ["ci"]


async def test_concurrent_key_rotation_installs_one_key(replicas: list[S3AuthStore]) -> None:
    """Replicas creating the first key, then replacing it, at the same time:
    each time one key wins and every replica gets that key back."""
    first = await race(
        [
            functools.partial(store.activate_signing_key, signing_key(f"a{n}"), replacing=None)
            for n, store in enumerate(replicas)
        ]
    )
    assert len({k.kid for k in first}) == 1, first
    old = first[0].kid
    later = T0.replace(day=2)
    second = await race(
        [
            functools.partial(
                store.activate_signing_key, signing_key(f"b{n}", later), replacing=old
            )
            for n, store in enumerate(replicas)
        ]
    )
    assert len({k.kid for k in second}) == 1, second
    listed = await replicas[0].list_signing_keys()
    assert [k.kid for k in listed] == [second[0].kid, old]
    assert [k.retired for k in listed] == [None, later]


async def test_bucket_holds_only_hashes_under_the_auth_folder(
    s3_server: S3Server, bucket: str, replicas: list[S3AuthStore]
) -> None:
    """Every auth object is under <prefix>/__opentaco/auth/, no secret is ever
    written, and the state store does not mistake any of them for a unit."""
    await replicas[0].add_api_token(api_token("t1"))
    await replicas[0].add_refresh_token(refresh_token("r1"))
    await replicas[0].rotate_refresh_token("r1", refresh_token("r2"), T0)
    await replicas[0].activate_signing_key(signing_key("k1"), replacing=None)
    client = s3_server.sync_client()
    found = keys(s3_server, bucket)
    assert found and all(k.startswith(f"{PREFIX}/__opentaco/auth/") for k in found), found
    for key in found:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        for secret in ("otc_t1", "otr_r1", "otr_r2"):
            assert secret.encode() not in body
    for root in (PREFIX, ""):
        states = await S3StateStore.open(
            bucket,
            prefix=root,
            region=s3_server.region,
            endpoint_url=s3_server.endpoint_url,
            session=s3_server.session(),
        )
        try:
            assert await states.list_units() == []
        finally:
            await states.aclose()


async def test_purge_reads_only_expired_entries(
    s3_server: S3Server, bucket: str, replicas: list[S3AuthStore]
) -> None:
    """Purging deletes a token's record and every index entry with it, and
    leaves later tokens whole (they still rotate and revoke)."""
    store = replicas[0]
    store.page_size = 4
    # More than the store's parallel requests, and several listing pages.
    for n in range(12):
        await store.add_refresh_token(refresh_token(f"old{n}", expires=T0.replace(day=2)))
    await store.add_refresh_token(refresh_token("new", expires=T0.replace(day=9)))
    assert await store.purge_refresh_tokens(T0.replace(day=3)) == 12
    assert await store.purge_refresh_tokens(T0.replace(day=3)) == 0
    left = [k for k in keys(s3_server, bucket) if "/refresh-" in k]
    assert len(left) == 4 and all("old" not in k for k in left), left
    assert not await store.rotate_refresh_token("old0", refresh_token("x"), T0)
    assert await store.rotate_refresh_token("new", refresh_token("new2"), T0)
    await store.revoke_refresh_family("f1", T0)
    found = await store.find_refresh_token(hash_secret("otr_new2"))
    assert found is not None and found.revoked == T0


async def test_unreadable_record_is_storage_unavailable(
    s3_server: S3Server, bucket: str, replicas: list[S3AuthStore]
) -> None:
    """A damaged auth object is reported as a storage error naming the object,
    never taken for "no keys" (which would mint a new key over it)."""
    key = f"{PREFIX}/__opentaco/auth/signing-keys.json"
    s3_server.sync_client().put_object(Bucket=bucket, Key=key, Body=b"{not json")
    with pytest.raises(StorageUnavailable, match=r"signing-keys\.json"):
        await replicas[0].list_signing_keys()


class FlakyClient:
    """The real client, except that chosen conditional ``PutObject`` calls fail
    the way S3 can: ``lost`` writes land but answer 412 (botocore retried a
    request whose first answer was lost), ``conflicts`` are refused with AWS's
    409 for a racing write still in flight."""

    def __init__(self, client: Any, *, lost: int = 0, conflicts: int = 0) -> None:
        self._client = client
        self.lost = lost
        self.conflicts = conflicts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def as_client(self) -> S3Client:
        """This wrapper where the stores take a client: it answers every call a client does."""
        return cast("S3Client", self)

    async def put_object(self, **args: Any) -> Any:
        conditional = "IfMatch" in args or "IfNoneMatch" in args
        if conditional and self.conflicts:
            self.conflicts -= 1
            raise ClientError(
                {
                    "Error": {"Code": "ConditionalRequestConflict", "Message": "in flight"},
                    "ResponseMetadata": {"HTTPStatusCode": 409},  # type: ignore[typeddict-item]
                },
                "PutObject",
            )
        answer = await self._client.put_object(**args)
        if conditional and self.lost:
            self.lost -= 1
            raise ClientError(
                {
                    "Error": {"Code": "PreconditionFailed", "Message": "retried"},
                    "ResponseMetadata": {"HTTPStatusCode": 412},  # type: ignore[typeddict-item]
                },
                "PutObject",
            )
        return answer


@pytest.fixture
async def raw_client(s3_server: S3Server) -> AsyncIterator[Any]:
    async with s3_server.session().create_client(
        "s3",
        region_name=s3_server.region,
        endpoint_url=s3_server.endpoint_url,
        config=client_config(s3_server.endpoint_url),
    ) as client:
        yield client


async def test_a_write_that_landed_but_answered_412_counts_as_ours(
    raw_client: Any, bucket: str, replicas: list[S3AuthStore]
) -> None:
    """A conditional write whose answer was lost and whose retry got 412 is
    recognised by its bytes: the rotation, the bootstrap and the key
    activation all report success, once."""
    flaky = FlakyClient(raw_client, lost=1)
    store = S3AuthStore(S3Bucket(bucket, client=flaky.as_client()), prefix=PREFIX)
    await store.add_refresh_token(refresh_token("r1"))
    assert await store.rotate_refresh_token("r1", refresh_token("r2"), T0)
    assert await replicas[0].find_refresh_token(hash_secret("otr_r2")) is not None
    flaky.lost = 1
    assert await store.add_first_api_token(api_token("boot"))
    assert [t.id for t in await replicas[0].list_api_tokens()] == ["boot"]
    flaky.lost = 1
    k1 = signing_key("k1")
    assert await store.activate_signing_key(k1, replacing=None) == k1
    assert [k.kid for k in await replicas[0].list_signing_keys()] == ["k1"]


async def test_a_conflict_while_a_racing_create_is_in_flight_is_retried(
    raw_client: Any, bucket: str, replicas: list[S3AuthStore]
) -> None:
    """AWS's 409 for a create racing one still in flight decides nothing: the
    create is tried again, so a lone bootstrap still happens."""
    store = S3AuthStore(
        S3Bucket(bucket, client=FlakyClient(raw_client, conflicts=2).as_client()), prefix=PREFIX
    )
    assert await store.add_first_api_token(api_token("boot"))
    assert [t.id for t in await replicas[0].list_api_tokens()] == ["boot"]


# -- the service wired to S3 ----------------------------------------------------


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The standard AWS credential chain, pointed at the test server only."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def s3_settings(s3: S3Server, bucket: str, **extra: Any) -> Settings:
    return Settings(
        storage="s3",
        s3_bucket=bucket,
        s3_prefix=PREFIX,
        s3_region=s3.region,
        s3_endpoint=s3.endpoint_url,
        **extra,
    )


@pytest.mark.usefixtures("s3_env")
async def test_s3_storage_opens_the_s3_auth_store(s3_server: S3Server, bucket: str) -> None:
    """--storage s3 keeps credentials in the bucket; with auth disabled nothing
    is kept (no credential is ever checked), so nothing is written either."""
    async with open_adapters(s3_settings(s3_server, bucket)) as adapters:
        store = adapters.auth
        assert isinstance(store, S3AuthStore)
        assert (store.bucket, store.prefix) == (bucket, PREFIX)
    async with open_adapters(s3_settings(s3_server, bucket, auth_disable=True)) as adapters:
        assert isinstance(adapters.auth, MemoryAuthStore)


@pytest.mark.usefixtures("s3_env")
def test_replicas_on_one_bucket_share_tokens_and_survive_restarts(
    s3_server: S3Server, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two replicas on one bucket: only the first start prints an admin token;
    a token created on one replica works on the other and after a restart."""
    from taco_http.app import create_app

    def replica() -> TestClient:
        return TestClient(create_app(s3_settings(s3_server, bucket)))

    with contextlib.ExitStack() as running:
        with replica() as first:
            (admin,) = TOKEN.findall(capsys.readouterr().err)
            second = running.enter_context(replica())
            assert TOKEN.findall(capsys.readouterr().err) == []
            headers = {"Authorization": f"Bearer {admin}"}
            assert second.get("/v1/units", headers=headers).status_code == 200
            created = first.post("/v1/auth/tokens", headers=headers, json={"name": "ci"})
            assert created.status_code == 201, created.text
            ci = {"Authorization": f"Bearer {created.json()['token']}"}
            assert second.get("/v1/auth/me", headers=ci).json()["kind"] == "api_token"
            assert first.get("/v1/auth/jwks").json() == second.get("/v1/auth/jwks").json()
        restarted = running.enter_context(replica())
        assert TOKEN.findall(capsys.readouterr().err) == []
        assert restarted.get("/v1/units", headers=ci).status_code == 200
        revoked = restarted.delete(f"/v1/auth/tokens/{created.json()['id']}", headers=headers)
        assert revoked.status_code == 204
        assert second.get("/v1/units", headers=ci).status_code == 401
