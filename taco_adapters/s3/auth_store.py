"""``TokenStore`` and ``SigningKeyStore`` in the S3 bucket that holds the states.

Why here: with S3 storage the bucket is the only stateful part, so replicas can
come and go. Credentials kept anywhere else would vanish on a restart and
differ between replicas behind one load balancer.

Layout, under ``<prefix>/__opentaco/auth/`` (``__opentaco`` is never a valid
unit-ID segment, so the folder can never be, or be inside, a unit's folder):

- ``api-tokens/<secret-hash>.json``: an API token's record. Keyed by the hash
  every request presents, so authenticating is one GET.
- ``api-token-ids/<id>``: the secret hash of token ``<id>``, for lookups by ID.
- ``first-api-token.json``: created once, with ``If-None-Match: *``, when the
  first API token is stored, and never changed: "an API token was ever
  stored" is this object's existence, decided by S3 for every replica.
- ``refresh-tokens/<secret-hash>.json``: a refresh token's record.
- ``refresh-token-ids/<id>`` (body: the hash), ``refresh-families/<family>/<hash>``
  and ``refresh-expiry/<expires>/<hash>`` (empty): index entries for rotation
  by ID, revocation of a family by listing one prefix, and purging in expiry
  order without reading the records that stay.
- ``signing-keys.json``: every signing key in one document (there are only a
  few), so "one active key" is a property of one object.
- ``secrets/<name>``: an installation-wide secret, created once with
  ``If-None-Match: *`` and never changed.

How it stays atomic without transactions: index entries are immutable and
written *before* the record they lead to, so a record that exists is always
reachable, and entries without a record (a crash between two writes) are
skipped. The only objects that ever change (token records, the key document)
change by compare-and-swap, ``PutObject`` with ``If-Match: <the ETag read>``,
which exactly one of several racing replicas wins; each write carries a random
``write`` nonce, so a write that botocore retried after a lost response is
recognised as ours rather than as a lost race.
"""

from __future__ import annotations

import contextlib
import functools
import json
import secrets
import urllib.parse
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from taco_adapters.s3.bucket import BucketStore, FanOut, PreconditionFailed, S3Bucket
from taco_adapters.s3.layout import Layout
from taco_adapters.timestamps import decode_optional_time, decode_time, encode_optional_time
from taco_core.auth import ApiToken, RefreshToken, SigningKey, active_key
from taco_core.errors import StorageUnavailable

API_DIR = "api-tokens/"
API_IDS_DIR = "api-token-ids/"
FIRST_API_TOKEN = "first-api-token.json"
REFRESH_DIR = "refresh-tokens/"
REFRESH_IDS_DIR = "refresh-token-ids/"
FAMILIES_DIR = "refresh-families/"
EXPIRY_DIR = "refresh-expiry/"
SIGNING_KEYS = "signing-keys.json"
SECRETS_DIR = "secrets/"
FORMAT = 1

# A compare-and-swap loses only when another replica changed the same record
# in between, and every record changes at most twice (used, revoked) or, for
# the key document, once per rotation: a few rounds always settle it.
_ATTEMPTS = 16
_FAN_OUT = 8
# Fixed width and UTC, so that key order is time order.
_STAMP = "%Y%m%dT%H%M%S%fZ"


@attrs.frozen
class _Found:
    """An object's bytes and the ETag a compare-and-swap must name."""

    body: bytes
    etag: str


class _S3AuthObjects(BucketStore):
    """What both auth stores share: one bucket, the ``__opentaco/auth/``
    folder under the prefix, and compare-and-swap of JSON records.

    Build it with ``open`` (which creates and owns a client and checks the
    bucket), or on an ``S3Bucket`` you open and close, which the states store
    may share.
    """

    # Keys per ListObjectsV2 page; tests lower it to exercise pagination.
    page_size = 1000

    def __init__(self, bucket: S3Bucket, *, prefix: str = "") -> None:
        super().__init__(bucket, prefix=prefix)
        self._root = Layout(prefix).auth_root()
        self._each = FanOut(_FAN_OUT)

    async def _get(self, key: str) -> _Found | None:
        obj = await self._s3.get(key)
        return _Found(obj.body or b"", obj.etag) if obj is not None else None

    async def _put(
        self, key: str, body: bytes, *, if_match: str | None = None, if_absent: bool = False
    ) -> None:
        """Write ``key``; with ``if_match``/``if_absent`` only if it is still that
        object / still absent, else ``PreconditionFailed``."""
        await self._s3.put(key, body, if_match=if_match, if_absent=if_absent)

    async def _delete(self, key: str) -> None:
        """Delete ``key``; a missing key is fine (deletes here are idempotent)."""
        await self._s3.delete(key)

    async def _keys(self, prefix: str) -> AsyncGenerator[str, None]:
        """Every key under ``prefix``, in key order (so callers may stop early)."""
        async for obj in self._s3.list(prefix, page_size=self.page_size):
            yield obj.key

    # -- building blocks -------------------------------------------------------

    async def _create(self, key: str, body: bytes) -> bool:
        """Create ``key`` only if it does not exist: True if this call created it.

        A 412 may also mean our own write landed and botocore retried it after
        a lost response; the stored bytes are then ours exactly (callers make
        every such body unique), which counts as created.
        """
        for _ in range(_ATTEMPTS):
            try:
                await self._put(key, body, if_absent=True)
            except PreconditionFailed:
                now = await self._get(key)
                if now is None:
                    # AWS's 409: a racing create was still in flight and may
                    # yet fail. Only an object that exists decides.
                    continue
                return now.body == body
            return True
        raise StorageUnavailable(
            f"S3 object s3://{self.bucket}/{key} could not be created under concurrent writers; "
            "try again"
        )

    async def _swap(
        self,
        key: str,
        change: Callable[[dict[str, Any]], dict[str, Any] | None],
        found: _Found | None = None,
    ) -> tuple[dict[str, Any] | None, bool]:
        """Compare-and-swap a JSON record until ``change`` is applied or declines.

        ``change`` gets the record as stored and returns the new record, or
        ``None`` when there is nothing to do (e.g. already revoked). Returns
        the record as it is now (``None``: there is none) and whether this
        call changed it. ``found`` is a read the caller already made.
        """
        for _ in range(_ATTEMPTS):
            if found is None:
                found = await self._get(key)
            if found is None:
                return None, False
            record = _decode(key, found.body)
            new = change(record)
            if new is None:
                return record, False
            body = _encode(new)
            try:
                await self._put(key, body, if_match=found.etag)
            except PreconditionFailed:
                found = await self._get(key)
                if found is not None and found.body == body:
                    return new, True
                continue
            return new, True
        raise StorageUnavailable(
            f"S3 object s3://{self.bucket}/{key} kept changing under concurrent writers; try again"
        )


class S3TokenStore(_S3AuthObjects):
    """``TokenStore`` in an S3 bucket: API tokens and refresh tokens, by hash.

    Only ``secret_hash`` ever reaches the bucket (the port's callers hash the
    secret), so read access to the bucket does not hand out credentials.
    """

    def __init__(self, bucket: S3Bucket, *, prefix: str = "") -> None:
        super().__init__(bucket, prefix=prefix)
        # The ID ``first-api-token.json`` names. Once created that object never
        # changes, so caching it is always correct.
        self._first: str | None = None

    # -- keys --------------------------------------------------------------------

    def _api_key(self, secret_hash: str) -> str:
        return f"{self._root}{API_DIR}{_part(secret_hash)}.json"

    def _api_id_key(self, token_id: str) -> str:
        return f"{self._root}{API_IDS_DIR}{_part(token_id)}"

    def _refresh_key(self, secret_hash: str) -> str:
        return f"{self._root}{REFRESH_DIR}{_part(secret_hash)}.json"

    def _refresh_id_key(self, token_id: str) -> str:
        return f"{self._root}{REFRESH_IDS_DIR}{_part(token_id)}"

    def _family_dir(self, family: str) -> str:
        return f"{self._root}{FAMILIES_DIR}{_part(family)}/"

    def _expiry_key(self, token: RefreshToken) -> str:
        return f"{self._root}{EXPIRY_DIR}{_stamp(token.expires)}/{_part(token.secret_hash)}"

    def _refresh_index(self, token: RefreshToken) -> list[str]:
        """The index entries that lead to ``token``'s record (ID entry first)."""
        return [
            self._refresh_id_key(token.id),
            self._family_dir(token.family) + _part(token.secret_hash),
            self._expiry_key(token),
        ]

    # -- API tokens ------------------------------------------------------------

    async def _first_id(self) -> str | None:
        if self._first is None:
            found = await self._get(self._root + FIRST_API_TOKEN)
            if found is not None:
                self._first = str(_decode(self._root + FIRST_API_TOKEN, found.body)["token_id"])
        return self._first

    async def _store_api(self, token: ApiToken, *, first: bool) -> None:
        """ID entry, then the record: a record that exists can always be found
        by ID (so it can be revoked)."""
        await self._put(self._api_id_key(token.id), token.secret_hash.encode())
        await self._put(self._api_key(token.secret_hash), _encode(_api_json(token, first=first)))

    async def _forget_api(self, token: ApiToken) -> None:
        await self._delete(self._api_key(token.secret_hash))
        await self._delete(self._api_id_key(token.id))

    async def _valid_api(self, record: Mapping[str, Any] | None) -> ApiToken | None:
        """The token a record holds, unless it is a bootstrap attempt that lost
        (or whose replica died before deciding): those were never shown to
        anyone and do not exist."""
        if record is None:
            return None
        token = _api_of(record)
        if record.get("first") and await self._first_id() != token.id:
            return None
        return token

    async def add_api_token(self, token: ApiToken) -> None:
        # The marker first: once any token can be seen, no bootstrap may follow.
        if await self._first_id() is None:
            marker = json.dumps({"token_id": token.id, "write": _nonce()}).encode()
            await self._create(self._root + FIRST_API_TOKEN, marker)
        await self._store_api(token, first=False)

    async def add_first_api_token(self, token: ApiToken) -> bool:
        """Store the token, then create the marker with ``If-None-Match: *``:
        the creation is the decision, made by S3 once for every replica. A
        loser deletes its record, which was marked ``first`` and so never
        counted; a replica that dies in between leaves no marker, and the next
        start bootstraps again."""
        if await self._first_id() is not None:
            return False
        await self._store_api(token, first=True)
        marker = json.dumps({"token_id": token.id, "write": _nonce()}).encode()
        if await self._create(self._root + FIRST_API_TOKEN, marker):
            self._first = token.id
            return True
        await self._forget_api(token)
        return False

    async def find_api_token(self, secret_hash: str) -> ApiToken | None:
        key = self._api_key(secret_hash)
        found = await self._get(key)
        return await self._valid_api(_decode(key, found.body) if found else None)

    async def get_api_token(self, token_id: str) -> ApiToken | None:
        found = await self._get(self._api_id_key(token_id))
        if found is None:
            return None
        token = await self.find_api_token(found.body.decode())
        return token if token is not None and token.id == token_id else None

    async def list_api_tokens(self) -> Sequence[ApiToken]:
        keys = [key async for key in self._keys(self._root + API_DIR)]
        found = await self._each([functools.partial(self._get, key) for key in keys])
        tokens = [
            await self._valid_api(_decode(key, f.body))
            for key, f in zip(keys, found, strict=True)
            if f is not None
        ]
        return sorted((t for t in tokens if t is not None), key=lambda t: (t.created, t.id))

    async def revoke_api_token(self, token_id: str, at: datetime) -> ApiToken | None:
        token = await self.get_api_token(token_id)
        if token is None:
            return None

        def revoke(record: dict[str, Any]) -> dict[str, Any] | None:
            return (
                None if record.get("revoked") else {**record, "revoked": encode_optional_time(at)}
            )

        record, _ = await self._swap(self._api_key(token.secret_hash), revoke)
        return _api_of(record) if record is not None else None

    # -- refresh tokens ----------------------------------------------------------

    async def _store_refresh(self, token: RefreshToken) -> None:
        """Index entries, then the record (see the module docstring)."""
        index = self._refresh_index(token)
        bodies = [token.secret_hash.encode(), b"", b""]
        await self._each(
            [
                functools.partial(self._put, key, body)
                for key, body in zip(index, bodies, strict=True)
            ]
        )
        await self._put(self._refresh_key(token.secret_hash), _encode(_refresh_json(token)))

    async def _forget_refresh(self, token: RefreshToken) -> None:
        """The record first, so the token stops existing before its index does."""
        await self._delete(self._refresh_key(token.secret_hash))
        await self._each(
            [functools.partial(self._delete, key) for key in self._refresh_index(token)]
        )

    async def add_refresh_token(self, token: RefreshToken) -> None:
        await self._store_refresh(token)

    async def find_refresh_token(self, secret_hash: str) -> RefreshToken | None:
        key = self._refresh_key(secret_hash)
        found = await self._get(key)
        return _refresh_of(_decode(key, found.body)) if found is not None else None

    async def rotate_refresh_token(self, old_id: str, new: RefreshToken, at: datetime) -> bool:
        """The successor is stored first, then the old record is marked used by
        compare-and-swap: that swap is the rotation, which one replica wins. A
        loser deletes its successor, whose secret it never handed out."""
        entry = await self._get(self._refresh_id_key(old_id))
        if entry is None:
            return False
        key = self._refresh_key(entry.body.decode())
        found = await self._get(key)
        if found is None or not _usable(_decode(key, found.body)):
            return False
        await self._store_refresh(new)

        def use(record: dict[str, Any]) -> dict[str, Any] | None:
            return {**record, "used": encode_optional_time(at)} if _usable(record) else None

        _, changed = await self._swap(key, use, found)
        if not changed:
            await self._forget_refresh(new)
        return changed

    async def revoke_refresh_family(self, family: str, at: datetime) -> None:
        """Revoke every token listed under the family, then list again, until a
        pass meets no token it had not already seen revoked.

        Why more than one pass: a rotation racing us may have stored its
        successor after our listing and then won its swap just before the
        predecessor was revoked (by us or a concurrent revoker). The successor
        was written before that swap, so a listing made after we saw the
        predecessor revoked shows it. When such a listing brings nothing new,
        every token of the family is revoked and no rotation in it can
        succeed any more.
        """

        def revoke(record: dict[str, Any]) -> dict[str, Any] | None:
            return (
                None if record.get("revoked") else {**record, "revoked": encode_optional_time(at)}
            )

        settled: set[str] = set()
        while True:
            hashes = [
                key.rsplit("/", 1)[1]
                async for key in self._keys(self._family_dir(family))
                if key.rsplit("/", 1)[1] not in settled
            ]
            results = await self._each(
                [
                    functools.partial(self._swap, self._refresh_key(_unpart(h)), revoke)
                    for h in hashes
                ]
            )
            # A missing record may be a successor still being written, so it
            # stays unsettled and is looked at again by the next pass.
            fresh = {
                h for h, (record, _) in zip(hashes, results, strict=True) if record is not None
            }
            if not fresh:
                return
            settled |= fresh

    async def purge_refresh_tokens(self, expired_before: datetime) -> int:
        """Walk ``refresh-expiry/`` in key (= time) order and stop at the
        cut-off, so a purge reads only what it deletes."""
        cut = self._root + EXPIRY_DIR + _stamp(expired_before)
        expired: list[str] = []
        async with contextlib.aclosing(self._keys(self._root + EXPIRY_DIR)) as keys:
            async for key in keys:
                if key >= cut:
                    break
                expired.append(key)
        record_keys = [self._refresh_key(_unpart(e.rsplit("/", 1)[1])) for e in expired]
        found = await self._each([functools.partial(self._get, k) for k in record_keys])
        tokens = [
            _refresh_of(_decode(k, f.body))
            for k, f in zip(record_keys, found, strict=True)
            if f is not None
        ]
        # Records first, so a token stops existing before its index does; an
        # entry whose record is already gone (a replica died halfway) goes too.
        await self._each(
            [functools.partial(self._delete, self._refresh_key(t.secret_hash)) for t in tokens]
        )
        index = {k for t in tokens for k in self._refresh_index(t)} | set(expired)
        await self._each([functools.partial(self._delete, k) for k in sorted(index)])
        return len(tokens)


class S3SigningKeyStore(_S3AuthObjects):
    """``SigningKeyStore`` in one S3 object, ``signing-keys.json``.

    Every key lives in that one document, replaced only by compare-and-swap,
    so two replicas rotating at once cannot both install a key: the second
    swap fails, re-reads, and finds the key it meant to replace already gone.
    """

    def _keys_key(self) -> str:
        return self._root + SIGNING_KEYS

    async def _read_keys(self) -> tuple[list[SigningKey], _Found | None]:
        found = await self._get(self._keys_key())
        if found is None:
            return [], None
        raw = _decode(self._keys_key(), found.body)
        try:
            return [_key_of(k) for k in raw["keys"]], found
        except (KeyError, TypeError, ValueError) as exc:
            raise _unreadable(self._keys_key(), exc) from exc

    async def _write_keys(self, keys: Sequence[SigningKey], found: _Found | None) -> bool:
        """Swap the document (create it when ``found`` is None); False if it
        changed since it was read."""
        body = _encode({"keys": [_key_json(k) for k in keys]})
        if found is None:
            return await self._create(self._keys_key(), body)
        try:
            await self._put(self._keys_key(), body, if_match=found.etag)
        except PreconditionFailed:
            now = await self._get(self._keys_key())
            return now is not None and now.body == body
        return True

    async def list_signing_keys(self) -> Sequence[SigningKey]:
        keys, _ = await self._read_keys()
        return sorted(keys, key=lambda k: k.created, reverse=True)

    async def activate_signing_key(self, key: SigningKey, *, replacing: str | None) -> SigningKey:
        for _ in range(_ATTEMPTS):
            keys, found = await self._read_keys()
            current = active_key(keys)
            if current is not None and current.kid != replacing:
                return current
            kept = [
                k if k.retired is not None else attrs.evolve(k, retired=key.created)
                for k in keys
                if k.kid != key.kid
            ]
            if await self._write_keys([*kept, key], found):
                return key
        raise StorageUnavailable(
            f"S3 object s3://{self.bucket}/{self._keys_key()} kept changing under concurrent "
            "writers; try again"
        )

    async def delete_signing_keys(self, kids: Sequence[str]) -> None:
        doomed = set(kids)
        for _ in range(_ATTEMPTS):
            keys, found = await self._read_keys()
            kept = [k for k in keys if k.retired is None or k.kid not in doomed]
            if len(kept) == len(keys) or await self._write_keys(kept, found):
                return
        raise StorageUnavailable(
            f"S3 object s3://{self.bucket}/{self._keys_key()} kept changing under concurrent "
            "writers; try again"
        )


class S3SecretStore(_S3AuthObjects):
    """``SecretStore``: one object per secret, created once and never changed."""

    async def secret(self, name: str, candidate: bytes) -> bytes:
        key = f"{self._root}{SECRETS_DIR}{_part(name)}"
        for _ in range(_ATTEMPTS):
            found = await self._get(key)
            if found is not None:
                return found.body
            # A create that loses the race reads the winner on the next round.
            if await self._create(key, bytes(candidate)):
                return bytes(candidate)
        raise StorageUnavailable(f"secret {name!r} could not be read or created; try again")


class S3AuthStore(S3TokenStore, S3SigningKeyStore, S3SecretStore):
    """The auth ports on one client, beside the states in the same bucket and
    prefix: what ``opentacosvc --storage s3`` uses."""


# -- helpers -------------------------------------------------------------------


def _part(value: str) -> str:
    """One key segment: IDs and hashes are hex in practice, but a caller's
    ``/`` must never open a folder."""
    return urllib.parse.quote(value, safe="")


def _unpart(segment: str) -> str:
    return urllib.parse.unquote(segment)


def _nonce() -> str:
    return secrets.token_hex(8)


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_STAMP)


def _usable(record: Mapping[str, Any]) -> bool:
    return not record.get("used") and not record.get("revoked")


def _unreadable(key: str, exc: Exception) -> StorageUnavailable:
    return StorageUnavailable(f"S3 object {key} is not a readable OpenTaco auth record: {exc}")


def _encode(record: Mapping[str, Any]) -> bytes:
    """A record's bytes, with a fresh ``write`` nonce: no two writes are ever
    byte-identical, so "the stored bytes are ours" proves our write landed."""
    return json.dumps({**record, "format": FORMAT, "write": _nonce()}, sort_keys=True).encode()


def _decode(key: str, body: bytes) -> dict[str, Any]:
    try:
        record = json.loads(body)
    except ValueError as exc:
        raise _unreadable(key, exc) from exc
    if not isinstance(record, dict):
        raise _unreadable(key, ValueError("not a JSON object"))
    version = record.get("format", FORMAT)
    if not isinstance(version, int) or version > FORMAT:
        # Rewriting a newer record would drop what this version does not know.
        raise _unreadable(key, ValueError(f"format {version!r} is not {FORMAT}; upgrade"))
    return record


def _api_json(t: ApiToken, *, first: bool) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "secret_hash": t.secret_hash,
        "subject": t.subject,
        "email": t.email,
        "groups": list(t.groups),
        "created": encode_optional_time(t.created),
        "created_by": t.created_by,
        "expires": encode_optional_time(t.expires),
        "revoked": encode_optional_time(t.revoked),
        "roles": None if t.roles is None else list(t.roles),
        "parent": t.parent,
        "first": first,
    }


def _api_of(raw: Mapping[str, Any]) -> ApiToken:
    try:
        return ApiToken(
            id=raw["id"],
            name=raw["name"],
            secret_hash=raw["secret_hash"],
            subject=raw["subject"],
            email=raw.get("email", ""),
            groups=raw.get("groups", []),
            created=decode_time(raw["created"]),
            created_by=raw.get("created_by", ""),
            expires=decode_optional_time(raw.get("expires")),
            revoked=decode_optional_time(raw.get("revoked")),
            # Absent in records written before tokens could be narrowed.
            roles=raw.get("roles"),
            parent=raw.get("parent") or "",
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _unreadable(f"API token {raw.get('id')!r}", exc) from exc


def _refresh_json(t: RefreshToken) -> dict[str, Any]:
    return {
        "id": t.id,
        "family": t.family,
        "secret_hash": t.secret_hash,
        "subject": t.subject,
        "email": t.email,
        "groups": list(t.groups),
        "created": encode_optional_time(t.created),
        "expires": encode_optional_time(t.expires),
        "used": encode_optional_time(t.used),
        "revoked": encode_optional_time(t.revoked),
    }


def _refresh_of(raw: Mapping[str, Any]) -> RefreshToken:
    try:
        return RefreshToken(
            id=raw["id"],
            family=raw["family"],
            secret_hash=raw["secret_hash"],
            subject=raw["subject"],
            email=raw.get("email", ""),
            groups=raw.get("groups", []),
            created=decode_time(raw["created"]),
            expires=decode_time(raw["expires"]),
            used=decode_optional_time(raw.get("used")),
            revoked=decode_optional_time(raw.get("revoked")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _unreadable(f"refresh token {raw.get('id')!r}", exc) from exc


def _key_json(k: SigningKey) -> dict[str, Any]:
    return {
        "kid": k.kid,
        "algorithm": k.algorithm,
        "private_pem": k.private_pem,
        "created": encode_optional_time(k.created),
        "retired": encode_optional_time(k.retired),
    }


def _key_of(raw: Mapping[str, Any]) -> SigningKey:
    return SigningKey(
        kid=raw["kid"],
        algorithm=raw["algorithm"],
        private_pem=raw["private_pem"],
        created=decode_time(raw["created"]),
        retired=decode_optional_time(raw.get("retired")),
    )
