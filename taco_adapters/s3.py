"""``StateStore`` on S3 (AWS or any S3-compatible store), shared by any number of replicas.

Why it holds across replicas: S3 itself decides every race. A lock is one
object created with ``If-None-Match: *`` (exactly one creator wins, the same
object and body Terraform's own ``backend "s3"`` uses with ``use_lockfile``); a
unit's head moves by a compare-and-swap of its small ``unit.json`` with
``If-Match: <etag>``. No replica keeps state of its own, so they can come and go.

Layout, under ``<prefix>/<unit-id>/`` (``docs/storage.md`` has the full story):

- ``terraform.tfstate`` is the current state, byte for byte, where plain
  Terraform and Terragrunt read and write it. Objects we write carry the
  metadata ``x-amz-meta-opentaco-version: <number>``; one without it was written
  by someone else and is *adopted* into the history on the next commit.
- ``terraform.tfstate.tflock`` is the lock (Terraform's LockInfo JSON);
  ``terraform.tfstate.lock`` (the Go reference's name) also counts as held.
- ``__opentaco/unit.json`` holds what S3 cannot: labels, the head and next
  version numbers and the index of kept versions of the live incarnation (a
  tombstone once it is deleted). It is optional: a unit with only a
  ``terraform.tfstate`` object is a unit whose state is version 0. ``__`` can
  never appear in a unit ID segment, so that folder is never another unit's.
- ``__opentaco/versions/<number>-<token>.tfstate`` are immutable version bytes;
  the random token means two racing writers never overwrite each other's
  object, so the loser's leftovers are harmless orphans.
- ``__opentaco/deleted/<incarnation>-<token>.json`` are soft-deleted
  incarnations, waiting for undelete or purge.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
import anyio
import attrs
from aiobotocore.session import AioSession  # type: ignore[import-untyped]
from attrs import frozen
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from taco_adapters.s3_common import (
    FanOut,
    PreconditionFailed,
    error_code,
    error_status,
    first_error,
    get_object,
    is_missing,
    is_precondition,
    open_client,
    put_object,
    vendor_errors,
)
from taco_adapters.wire import held_lock_from_json, terraform_lock_json
from taco_core import locks
from taco_core.errors import (
    ConcurrentUpdate,
    InvalidState,
    InvalidUnitId,
    LockConflict,
    StorageUnavailable,
    UnitAlreadyExists,
    UnitNotFound,
    VersionNotFound,
)
from taco_core.model import (
    LockInfo,
    NewVersion,
    Payload,
    RetentionPolicy,
    StateFacts,
    StateVersion,
    Surface,
    Unit,
)
from taco_core.retention import prunable
from taco_core.state_doc import fingerprint, read_facts
from taco_core.unit_id import UnitId, parse_unit_id

A = TypeVar("A")
B = TypeVar("B")

_log = logging.getLogger(__name__)

STATE = "terraform.tfstate"
TFLOCK = "terraform.tfstate.tflock"
LEGACY_LOCK = "terraform.tfstate.lock"
META_DIR = "__opentaco"
UNIT_DOC = f"{META_DIR}/unit.json"
VERSIONS_DIR = f"{META_DIR}/versions/"
DELETED_DIR = f"{META_DIR}/deleted/"
MIRROR_META = "opentaco-version"
MIRROR_INCARNATION = "opentaco-incarnation"
DOC_FORMAT = 1

# Conditional writes lose races by design; a loser re-reads and decides again.
# Contention on one unit is rare (Terraform holds a lock), so a few rounds do.
_ATTEMPTS = 8
# Parallel requests per call, so a listing of many units does not open a
# connection per unit (botocore's pool holds 10 by default).
_FAN_OUT = 8

# -- value types ---------------------------------------------------------------


@frozen
class _Obj:
    """What a HEAD, GET or listing tells about one object. ``metadata`` is
    ``None`` when unknown (listings do not return it)."""

    key: str
    etag: str
    size: int
    last_modified: datetime
    metadata: Mapping[str, str] | None = None
    body: bytes | None = None


@frozen
class _Entry:
    """A kept version in the index: its metadata and its object's name."""

    version: StateVersion
    name: str


def _new_id() -> str:
    return uuid.uuid4().hex


@frozen
class _Doc:
    """One incarnation of a unit: the content of ``unit.json`` while it is
    live, of a ``deleted/<incarnation>-<token>.json`` record once deleted.

    A unit with no ``unit.json`` (written by Terraform or Terragrunt alone)
    reads as the *virtual* doc ``_Doc.foreign``. A deleted unit leaves a
    *tombstone* in ``unit.json``: the ID is free, and the tombstone remembers
    which ``terraform.tfstate`` object (``adopted_etag``) died with it.
    """

    created: datetime
    updated: datetime
    labels: Mapping[str, str] = attrs.field(factory=dict)
    head: int | None = None
    next_number: int = 1
    versions: tuple[_Entry, ...] = ()
    incarnation: str = attrs.field(factory=_new_id)
    deleted_at: datetime | None = None
    purging: bool = False
    tombstone: bool = False
    adopted_etag: str | None = None

    @classmethod
    def foreign(cls, state: _Obj) -> _Doc:
        # next_number 0: the state already there becomes version 0 when adopted,
        # so units we create still number their first write 1.
        return cls(created=state.last_modified, updated=state.last_modified, next_number=0)

    def tomb(self, at: datetime, state: _Obj | None) -> _Doc:
        return _Doc(
            created=at,
            updated=at,
            incarnation=self.incarnation,
            tombstone=True,
            adopted_etag=state.etag if state is not None else None,
        )

    @property
    def head_entry(self) -> _Entry | None:
        return self.entry(self.head) if self.head is not None else None

    def entry(self, number: int) -> _Entry | None:
        for entry in self.versions:
            if entry.version.number == number:
                return entry
        return None


@frozen
class _View:
    """One live unit as read now: its doc, the ETag a compare-and-swap of
    ``unit.json`` must name (``None``: there is no ``unit.json`` yet; for a
    virtual doc it may be a tombstone's), its ``terraform.tfstate`` object,
    and whether that object is an outside write not yet in the history (it
    is then the head, numbered ``next_number``)."""

    unit_id: UnitId
    doc: _Doc
    etag: str | None
    state: _Obj | None
    pending: bool

    @property
    def head_number(self) -> int | None:
        return self.doc.next_number if self.pending else self.doc.head


@frozen
class _Record:
    """A deleted incarnation: its record object and what it holds."""

    key: str
    etag: str
    doc: _Doc


@frozen
class _Listed:
    """What one listing pass saw of a unit's folder."""

    state: _Obj | None = None
    has_doc: bool = False
    has_lock: bool = False
    records: tuple[str, ...] = ()


# -- the store -----------------------------------------------------------------


class S3StateStore:
    """``StateStore`` in an S3 bucket, under an optional key prefix.

    Build it with ``open`` (which creates and owns one client for the process
    and checks the bucket), or pass a client you own to the constructor.
    """

    # Keys per ListObjectsV2 page; tests lower it to exercise pagination.
    page_size = 1000

    def __init__(
        self,
        bucket: str,
        *,
        client: Any,
        prefix: str = "",
        region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.region = region
        self.endpoint_url = endpoint_url
        self._client = client
        self._base = f"{self.prefix}/" if self.prefix else ""
        self._stack = contextlib.AsyncExitStack()
        self._fan_out = FanOut(_FAN_OUT)
        self._conditional_delete = True

    @classmethod
    async def open(
        cls,
        bucket: str,
        *,
        prefix: str = "",
        region: str | None = None,
        endpoint_url: str | None = None,
        session: AioSession | None = None,
        client: Any = None,
    ) -> S3StateStore:
        """Create the store and prove the bucket is reachable.

        Without ``client``, one aiobotocore client is created from ``session``
        (default: the standard AWS credential chain) inside the running event
        loop and closed by ``aclose``. Raises ``StorageUnavailable`` naming the
        bucket, the endpoint and the fix when the bucket cannot be used: the
        service must refuse to start rather than serve from nowhere.
        """
        stack = contextlib.AsyncExitStack()
        try:
            if client is None:
                client = await open_client(
                    stack, region=region, endpoint_url=endpoint_url, session=session
                )
            store = cls(
                bucket, client=client, prefix=prefix, region=region, endpoint_url=endpoint_url
            )
            store._stack = stack
            await store._check_bucket()
        except BaseException:
            await stack.aclose()
            raise
        return store

    async def _check_bucket(self) -> None:
        where = f"bucket {self.bucket!r} at {self.endpoint_url or 'AWS'}"
        if self.region:
            where += f" (region {self.region})"
        try:
            await self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            status = error_status(exc)
            if status == 404:
                fix = "create it or fix the bucket name"
            elif status in (401, 403):
                fix = "check the AWS credentials and that they may use this bucket"
            elif status == 301:
                fix = "the bucket is in another region; set the region it is in"
            else:
                fix = f"the server answered {status} {error_code(exc)}"
            raise StorageUnavailable(f"cannot use S3 {where}: {fix}") from exc
        except (BotoCoreError, aiohttp.ClientError, TimeoutError) as exc:
            raise StorageUnavailable(f"cannot use S3 {where}: {exc}") from exc

    # -- keys ----------------------------------------------------------------

    def _folder(self, unit_id: str) -> str:
        # The layout relies on META_DIR never being a unit's own segment (the
        # unit-ID rules forbid "__" there); refuse rather than mix two units.
        if META_DIR in unit_id.split("/"):
            raise InvalidUnitId(f"unit ID {unit_id!r} must not contain a {META_DIR!r} segment")
        return f"{self._base}{unit_id}/"

    def _key(self, unit_id: str, name: str) -> str:
        return self._folder(unit_id) + name

    def _version_key(self, unit_id: str, entry: _Entry) -> str:
        return self._key(unit_id, f"{VERSIONS_DIR}{entry.name}.tfstate")

    # -- S3 primitives (the only code that talks to the client) --------------

    async def _get(self, key: str) -> _Obj | None:
        found = await get_object(self._client, self.bucket, key)
        return _obj_of(key, *found) if found is not None else None

    async def _head(self, key: str) -> _Obj | None:
        with vendor_errors(f"HeadObject s3://{self.bucket}/{key}"):
            try:
                resp = await self._client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if is_missing(exc):
                    return None
                raise
            return _obj_of(key, resp, None)

    async def _put(
        self,
        key: str,
        body: Payload,
        *,
        if_match: str | None = None,
        if_absent: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Write ``key``; with ``if_match``/``if_absent`` only if it is still that
        object / still absent, else ``PreconditionFailed``. Returns the ETag."""
        return await put_object(
            self._client,
            self.bucket,
            key,
            body,
            if_match=if_match,
            if_absent=if_absent,
            metadata=metadata,
        )

    async def _delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete ``key`` (a missing key is fine). ``if_match`` deletes only that
        object, else ``PreconditionFailed`` (also when it is gone already);
        stores that do not implement conditional deletes get a plain one."""
        with vendor_errors(f"DeleteObject s3://{self.bucket}/{key}"):
            if if_match is not None and self._conditional_delete:
                try:
                    await self._client.delete_object(Bucket=self.bucket, Key=key, IfMatch=if_match)
                    return
                except ClientError as exc:
                    if is_precondition(exc) or is_missing(exc):
                        raise PreconditionFailed(key) from exc
                    if error_status(exc) != 501 and error_code(exc) != "NotImplemented":
                        raise
                    _log.info(
                        "s3 store: %s has no conditional delete; unlocks use plain deletes",
                        self.endpoint_url or "S3",
                    )
                    self._conditional_delete = False
            await self._client.delete_object(Bucket=self.bucket, Key=key)

    async def _list(self, prefix: str, *, skip_versions: bool = True) -> AsyncIterator[_Obj]:
        """Every object under ``prefix``, in key order. With ``skip_versions``,
        most version objects are skipped: when a page ends inside a versions
        folder the next page starts after that folder rather than walking
        through it, so listing units costs pages per unit, not per version."""
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": self.page_size}
        while True:
            with vendor_errors(f"ListObjectsV2 s3://{self.bucket}/{prefix}"):
                resp = await self._client.list_objects_v2(**args)
            contents = resp.get("Contents", [])
            for item in contents:
                yield _Obj(
                    key=item["Key"],
                    etag=str(item.get("ETag", "")),
                    size=int(item.get("Size", 0)),
                    last_modified=_utc(item["LastModified"]),
                )
            if not resp.get("IsTruncated"):
                return
            args.pop("ContinuationToken", None)
            args.pop("StartAfter", None)
            last = contents[-1]["Key"] if contents else ""
            cut = last.find("/" + VERSIONS_DIR)
            platform = self._base + META_DIR + "/"
            if skip_versions and last.startswith(platform):
                # The platform's own objects (auth tokens, keys) hold no unit:
                # jump past them, as "<base>__opentaco/" sorts before "...0".
                args["StartAfter"] = self._base + META_DIR + "0"
            elif skip_versions and cut >= 0:
                # Keys under ".../versions/" sort before ".../versions0".
                args["StartAfter"] = last[: cut + 1 + len(VERSIONS_DIR) - 1] + "0"
            else:
                args["ContinuationToken"] = resp["NextContinuationToken"]

    # -- reading a unit --------------------------------------------------------

    async def _read_doc(self, unit_id: str) -> tuple[_Doc, str] | None:
        obj = await self._get(self._key(unit_id, UNIT_DOC))
        if obj is None:
            return None
        return _doc_of(unit_id, obj.body or b""), obj.etag

    async def _put_doc(self, unit_id: str, doc: _Doc, *, etag: str | None) -> str:
        """Compare-and-swap ``unit.json``: replace the version with ``etag``, or
        create it when ``etag`` is None. ``PreconditionFailed`` if it changed.

        A 412 may also mean our own write landed and botocore retried it after a
        lost response; the stored bytes then match ours exactly (each write
        carries a random ``write`` ID), so that counts as success.
        """
        key = self._key(unit_id, UNIT_DOC)
        body = _doc_json(doc)
        try:
            return await self._put(key, body, if_match=etag, if_absent=etag is None)
        except PreconditionFailed:
            now = await self._get(key)
            if now is not None and now.body == body:
                return now.etag
            raise

    async def _view(self, unit_id: UnitId) -> _View:
        """The live unit as it is now; ``UnitNotFound`` if there is none."""
        found, state = await _both(self._read_doc(unit_id), self._head(self._key(unit_id, STATE)))
        doc, etag = found if found is not None else (None, None)
        if doc is None or doc.tombstone:
            if state is None or not _outside_over(doc, state):
                raise UnitNotFound(unit_id)
            return _View(unit_id, _Doc.foreign(state), etag, state, pending=True)
        return _View(unit_id, doc, etag, state, pending=_pending(doc, state) is True)

    async def _records(self, unit_id: str, keys: Sequence[str] | None = None) -> list[_Record]:
        """The unit's deleted incarnations (their records under ``DELETED_DIR``)."""
        if keys is None:
            folder = self._key(unit_id, DELETED_DIR)
            keys = [obj.key async for obj in self._list(folder, skip_versions=False)]

        async def read(key: str) -> _Record | None:
            obj = await self._get(key)
            if obj is None:
                return None
            return _Record(key, obj.etag, _doc_of(unit_id, obj.body or b""))

        found = await self._fan_out([functools.partial(read, k) for k in keys])
        return [r for r in found if r is not None]

    async def _read_lock(self, key: str) -> tuple[LockInfo, str] | None:
        obj = await self._get(key)
        if obj is None:
            return None
        return _lock_of(obj.body or b""), obj.etag

    async def _locks(
        self, unit_id: str
    ) -> tuple[tuple[LockInfo, str] | None, tuple[LockInfo, str] | None]:
        """Terraform's ``.tflock`` and the Go reference's ``.lock``, with ETags."""
        return await _both(
            self._read_lock(self._key(unit_id, TFLOCK)),
            self._read_lock(self._key(unit_id, LEGACY_LOCK)),
        )

    async def _holder(self, unit_id: str) -> LockInfo | None:
        """Who holds the unit's lock (``.tflock`` first, then ``.lock``)."""
        tflock, legacy = await self._locks(unit_id)
        held = tflock or legacy
        return held[0] if held else None

    async def _current(
        self, unit_id: UnitId, *, data: bool
    ) -> tuple[_View, StateVersion | None, bytes | None]:
        """The unit's head version (and its bytes if ``data``). An outside write
        is read whole to learn its serial and lineage; if ``terraform.tfstate``
        changes while we read it, we read again."""
        for _ in range(_ATTEMPTS):
            view = await self._view(unit_id)
            if view.pending:
                assert view.state is not None
                obj = await self._get(view.state.key)
                if obj is None or obj.etag != view.state.etag:
                    continue
                body = obj.body or b""
                return view, _outside_version(unit_id, view.doc.next_number, obj, body), body
            entry = view.doc.head_entry
            if entry is None:
                return view, None, None
            if not data:
                return view, entry.version, None
            try:
                return view, entry.version, await self._version_bytes(unit_id, entry)
            except VersionNotFound:
                raise StorageUnavailable(
                    f"the current version of unit {unit_id!r} is listed in {UNIT_DOC} but its "
                    "object is missing from the bucket"
                ) from None
        raise StorageUnavailable(
            f"the state of unit {unit_id!r} kept changing while it was read; try again"
        )

    async def _version_bytes(self, unit_id: UnitId, entry: _Entry) -> bytes:
        obj = await self._get(self._version_key(unit_id, entry))
        if obj is None:
            raise VersionNotFound(unit_id, entry.version.number)
        return obj.body or b""

    # -- units ---------------------------------------------------------------

    async def create_unit(self, unit: Unit) -> Unit:
        """Create ``unit.json`` with ``If-None-Match: *``, or over a deleted
        incarnation's tombstone with ``If-Match``: exactly one creator wins."""
        found, state = await _both(self._read_doc(unit.id), self._head(self._key(unit.id, STATE)))
        doc, etag = found if found is not None else (None, None)
        if doc is not None and not doc.tombstone:
            raise UnitAlreadyExists(unit.id)
        if state is not None and _outside_over(doc, state):
            raise UnitAlreadyExists(unit.id)
        new = _Doc(created=unit.created, updated=unit.updated, labels=unit.labels)
        try:
            await self._put_doc(unit.id, new, etag=etag)
        except PreconditionFailed:
            raise UnitAlreadyExists(unit.id) from None
        if state is not None:
            # What a deleted incarnation left behind must not show through to
            # plain Terraform readers of the new, empty unit.
            await self._discard([state.key], if_match=state.etag)
        return unit

    async def get_unit(self, unit_id: UnitId) -> Unit:
        view, holder = await _both(self._view(unit_id), self._holder(unit_id))
        return _unit_of(view, holder)

    async def list_units(self, prefix: str = "", *, deleted: bool = False) -> Sequence[Unit]:
        seen = await self._scan(prefix)
        if deleted:
            ids = sorted(k for k, v in seen.items() if v.records)
            found = await self._fan_out(
                [functools.partial(self._deleted_units, u, seen[u]) for u in ids]
            )
            return [unit for units in found for unit in units]
        ids = sorted(k for k, v in seen.items() if v.state is not None or v.has_doc)
        units = await self._fan_out([functools.partial(self._live_unit, u, seen[u]) for u in ids])
        return [u for u in units if u is not None]

    async def _scan(self, prefix: str) -> dict[UnitId, _Listed]:
        """One listing pass: which units exist under ``prefix`` and what of each."""
        seen: dict[UnitId, _Listed] = {}
        async for obj in self._list(self._base + prefix):
            found = _unit_key(obj.key[len(self._base) :])
            if found is None or not found[0].startswith(prefix):
                continue
            unit_id, kind = found
            listed = seen.get(unit_id, _Listed())
            if kind == STATE:
                listed = attrs.evolve(listed, state=obj)
            elif kind == UNIT_DOC:
                listed = attrs.evolve(listed, has_doc=True)
            elif kind == DELETED_DIR:
                listed = attrs.evolve(listed, records=(*listed.records, obj.key))
            else:
                listed = attrs.evolve(listed, has_lock=True)
            seen[unit_id] = listed
        return seen

    async def _live_unit(self, unit_id: UnitId, listed: _Listed) -> Unit | None:
        found = await self._read_doc(unit_id) if listed.has_doc else None
        doc, etag = found if found is not None else (None, None)
        state = listed.state
        if doc is None or doc.tombstone:
            if state is not None and doc is not None:
                # Only the metadata tells a leftover of ours from a new write.
                state = await self._head(state.key)
            if state is None or not _outside_over(doc, state):
                return None
            view = _View(unit_id, _Doc.foreign(state), etag, state, pending=True)
        else:
            pending = _pending(doc, state)
            if pending is None:
                state = await self._head(self._key(unit_id, STATE))
                pending = _pending(doc, state)
            view = _View(unit_id, doc, etag, state, pending=pending is True)
        holder = await self._holder(unit_id) if listed.has_lock else None
        return _unit_of(view, holder)

    async def _deleted_units(self, unit_id: UnitId, listed: _Listed) -> list[Unit]:
        found, records = await _both(
            self._read_doc(unit_id), self._records(unit_id, listed.records)
        )
        live = found[0] if found is not None and not found[0].tombstone else None
        kept = [r.doc for r in _valid(records, live)]
        kept.sort(key=lambda d: d.deleted_at or d.created, reverse=True)
        return [_unit_of(_View(unit_id, doc, None, None, pending=False), None) for doc in kept]

    async def delete_unit(self, unit_id: UnitId, at: datetime) -> None:
        """Write the incarnation's record under ``DELETED_DIR``, then swap
        ``unit.json`` for a tombstone (the atomic step that frees the ID), then
        remove ``terraform.tfstate`` so plain Terraform sees the ID free too.

        A state written from outside is adopted into the history first, so the
        deleted incarnation keeps it. Like a commit, the lock is checked again
        after the swap, and a lock taken in between undoes the delete.
        """
        for _ in range(_ATTEMPTS):
            view, holder = await _both(self._view(unit_id), self._holder(unit_id))
            if holder is not None:
                raise LockConflict(unit_id, holder)
            base = view.doc
            written: list[str] = []
            if view.pending:
                adopted = await self._adopt(view)
                if adopted is None:
                    continue
                base, key = adopted
                written.append(key)
            record = self._key(unit_id, f"{DELETED_DIR}{base.incarnation}-{_new_id()[:16]}.json")
            await self._put(record, _doc_json(attrs.evolve(base, deleted_at=at)))
            try:
                etag = await self._put_doc(unit_id, base.tomb(at, view.state), etag=view.etag)
            except PreconditionFailed:
                await self._discard([record, *written])
                continue
            holder = await self._holder(unit_id)
            if holder is not None:
                try:
                    await self._put_doc(unit_id, base, etag=etag)
                except PreconditionFailed:
                    pass  # someone already created the ID anew: the delete stands
                else:
                    await self._discard([record])
                raise LockConflict(unit_id, holder)
            if view.state is not None:
                await self._discard([view.state.key], if_match=view.state.etag)
            return
        raise ConcurrentUpdate(unit_id)

    async def undelete_unit(self, unit_id: UnitId) -> Unit:
        """Put the newest deleted incarnation back in ``unit.json`` (by
        compare-and-swap over the tombstone), then consume its record with
        ``If-Match``: if a purge marked the record meanwhile, the purge wins
        and the swap is undone."""
        for _ in range(_ATTEMPTS):
            (found, state), records = await _both(
                _both(self._read_doc(unit_id), self._head(self._key(unit_id, STATE))),
                self._records(unit_id),
            )
            doc, etag = found if found is not None else (None, None)
            live = doc if doc is not None and not doc.tombstone else None
            candidates = _valid(records, live)
            if not candidates:
                raise UnitNotFound(unit_id)
            if live is not None or (state is not None and _outside_over(doc, state)):
                raise UnitAlreadyExists(unit_id)
            newest = max(candidates, key=lambda r: r.doc.deleted_at or r.doc.created)
            back = attrs.evolve(newest.doc, deleted_at=None)
            try:
                swapped = await self._put_doc(unit_id, back, etag=etag)
            except PreconditionFailed:
                continue
            try:
                await self._delete(newest.key, if_match=newest.etag)
                head = back.head_entry
                data = await self._version_bytes(unit_id, head) if head else None
            except (PreconditionFailed, VersionNotFound):
                with contextlib.suppress(PreconditionFailed):
                    await self._put_doc(unit_id, back.tomb(back.created, state), etag=swapped)
                raise UnitNotFound(unit_id) from None
            if data is not None:
                await self._refresh_mirror(unit_id, back, data, state)
            return await self.get_unit(unit_id)
        raise ConcurrentUpdate(unit_id)

    async def purge_deleted(self, deleted_before: datetime) -> Sequence[UnitId]:
        """Each doomed record is first marked ``purging`` by compare-and-swap,
        so an undelete racing the purge either consumed it first (the mark
        fails) or loses (its ``If-Match`` consume fails). The record goes last,
        so a purge cut short is finished by the next one. Only objects no other
        incarnation names are deleted, and never by prefix, so nested units
        (``a/b`` under ``a``) are never touched."""
        seen = await self._scan("")
        ids = sorted(k for k, v in seen.items() if v.records)
        found = await self._fan_out(
            [functools.partial(self._purge_unit, u, seen[u].records, deleted_before) for u in ids]
        )
        return [unit_id for purged in found for unit_id in purged]

    async def _purge_unit(
        self, unit_id: UnitId, keys: Sequence[str], deleted_before: datetime
    ) -> list[UnitId]:
        found, records = await _both(self._read_doc(unit_id), self._records(unit_id, keys))
        live = found[0] if found is not None and not found[0].tombstone else None
        purged: list[UnitId] = []
        for record in _valid(records, live, include_purging=True):
            deleted_at = record.doc.deleted_at
            if deleted_at is None or deleted_at >= deleted_before:
                continue
            if not record.doc.purging:
                marked = _doc_json(attrs.evolve(record.doc, purging=True))
                try:
                    await self._put(record.key, marked, if_match=record.etag)
                except PreconditionFailed:
                    continue  # consumed by an undelete, or changed: next purge decides
            now = await self._read_doc(unit_id)
            undeleting = now is not None and not now[0].tombstone
            if undeleting and now is not None and now[0].incarnation == record.doc.incarnation:
                continue  # an undelete that read the record first is finishing
            keep = {e.name for r in records if r is not record for e in r.doc.versions}
            if now is not None:
                keep |= {e.name for e in now[0].versions}
            doomed = [
                self._version_key(unit_id, e) for e in record.doc.versions if e.name not in keep
            ]
            await self._fan_out([functools.partial(self._delete, k) for k in doomed])
            await self._delete(record.key)
            purged.append(unit_id)
        return purged

    # -- locks ---------------------------------------------------------------

    async def lock(self, unit_id: UnitId, wanted: LockInfo) -> LockInfo:
        """Create ``.tflock`` with ``If-None-Match: *``: S3 lets exactly one
        creator win. A lock already there is decided without writing, which
        spares the store a contended conditional write while Terraform polls
        (``-lock-timeout``)."""
        key = self._key(unit_id, TFLOCK)
        for _ in range(_ATTEMPTS):
            _, held = await _both(self._view(unit_id), self._locks(unit_id))
            present = [found[0] for found in held if found is not None]
            if present:
                for holder in present:
                    locks.check_lock(unit_id, holder, wanted)
                return present[0]
            try:
                await self._put(key, _lock_json(wanted), if_absent=True)
                return wanted
            except PreconditionFailed:
                winner = await self._read_lock(key)
                if winner is None:
                    continue  # released between our write and our read: try again
                return locks.check_lock(unit_id, winner[0], wanted)
        raise StorageUnavailable(f"the lock of unit {unit_id!r} kept changing; try again")

    async def unlock(self, unit_id: UnitId, lock_id: str | None) -> None:
        """Check the holder's ID, then delete with ``If-Match`` on the ETag we
        checked: if the lock was released and re-taken in between, the new
        holder keeps it. A forced unlock deletes both lock names."""
        keys = (self._key(unit_id, TFLOCK), self._key(unit_id, LEGACY_LOCK))
        await self._view(unit_id)
        if lock_id is None:
            for key in keys:
                await self._delete(key)
            return
        for _ in range(_ATTEMPTS):
            held = await self._locks(unit_id)
            for found in held:
                if found is not None:
                    locks.check_unlock(unit_id, found[0], lock_id)
            try:
                for key, found in zip(keys, held, strict=True):
                    if found is not None:
                        await self._delete(key, if_match=found[1])
            except PreconditionFailed:
                continue
            return
        raise StorageUnavailable(f"the lock of unit {unit_id!r} kept changing; try again")

    # -- history -------------------------------------------------------------

    async def head(self, unit_id: UnitId) -> StateVersion | None:
        _, version, _ = await self._current(unit_id, data=False)
        return version

    async def commit(
        self,
        unit_id: UnitId,
        new: NewVersion,
        *,
        expected_head: int | None,
        lock_id: str | None,
        retention: RetentionPolicy,
    ) -> StateVersion:
        """Write the version object, then swap ``unit.json`` (the atomic step),
        then refresh ``terraform.tfstate`` for plain Terraform readers.

        The lock is read before the swap and again after it: a lock taken in
        between makes us swap the doc back and raise ``LockConflict``, so a lock
        holder never keeps a write it did not make. An outside write found in
        ``terraform.tfstate`` is first kept as a version of its own (adopted), so
        nothing anyone wrote is lost.
        """
        for _ in range(_ATTEMPTS):
            view, holder = await _both(self._view(unit_id), self._holder(unit_id))
            locks.check_write(unit_id, holder, lock_id)
            if not new.quarantined and view.head_number != expected_head:
                raise ConcurrentUpdate(unit_id)
            base = view.doc
            written: list[str] = []
            if view.pending:
                adopted = await self._adopt(view)
                if adopted is None:
                    continue  # terraform.tfstate changed while we read it
                base, key = adopted
                written.append(key)
            number = base.next_number
            version = StateVersion.from_new(unit_id, number, new)
            entry = _Entry(version, _object_name(number))
            key = self._version_key(unit_id, entry)
            await self._put(key, new.data)
            written.append(key)
            head = base.head if new.quarantined else number
            kept = (*base.versions, entry)
            doomed = set(prunable((e.version for e in kept), head, retention, new.created))
            doc = attrs.evolve(
                base,
                versions=tuple(e for e in kept if e.version.number not in doomed),
                head=head,
                next_number=number + 1,
                updated=base.updated if new.quarantined else version.created,
            )
            try:
                etag = await self._put_doc(unit_id, doc, etag=view.etag)
            except PreconditionFailed:
                await self._discard(written)
                continue
            after = await self._holder(unit_id)
            if after is not None and after.id != lock_id:
                undo = attrs.evolve(base, next_number=number + 1)
                try:
                    await self._put_doc(unit_id, undo, etag=etag)
                except PreconditionFailed:
                    # Someone moved on from our write already; it stands, in the
                    # history, and the mirror is theirs to refresh.
                    return version
                await self._discard([key])
                raise LockConflict(unit_id, after)
            await self._discard(
                [self._version_key(unit_id, e) for e in kept if e.version.number in doomed]
            )
            if not new.quarantined:
                await self._refresh_mirror(unit_id, doc, new.data, view.state)
            return version
        raise ConcurrentUpdate(unit_id)

    async def _adopt(self, view: _View) -> tuple[_Doc, str] | None:
        """Keep the outside write in ``terraform.tfstate`` as the next version and
        make it the head (in a doc not yet written). ``None`` if it changed."""
        assert view.state is not None
        obj = await self._get(view.state.key)
        if obj is None or obj.etag != view.state.etag:
            return None
        number = view.doc.next_number
        body = obj.body or b""
        entry = _Entry(_outside_version(view.unit_id, number, obj, body), _object_name(number))
        key = self._version_key(view.unit_id, entry)
        await self._put(key, body)
        doc = attrs.evolve(
            view.doc,
            versions=(*view.doc.versions, entry),
            head=number,
            next_number=number + 1,
            updated=obj.last_modified,
            adopted_etag=obj.etag,
        )
        return doc, key

    async def _discard(self, keys: Sequence[str], *, if_match: str | None = None) -> None:
        """Delete objects nothing needs any more (``if_match``: only if still
        that object). Failures only leave orphans, which nothing reads, so they
        are logged, not raised: the operation they follow has happened."""
        for key in keys:
            try:
                await self._delete(key, if_match=if_match)
            except PreconditionFailed:
                pass  # replaced or gone meanwhile: not ours to delete any more
            except StorageUnavailable as exc:
                _log.warning("s3 store: could not delete %s: %s", key, exc.message)

    async def _refresh_mirror(
        self, unit_id: UnitId, doc: _Doc, data: Payload, seen: _Obj | None
    ) -> None:
        """Make ``terraform.tfstate`` hold the head's bytes, conditionally on the
        object we last saw, so we never overwrite a newer write: a newer mirror
        of ours, or an outside write (which the next commit adopts).

        The doc is already committed, so failures are logged and left for the
        next read or commit to repair rather than reported as a failed write.
        """
        if doc.head is None:
            return
        key = self._key(unit_id, STATE)
        etag = seen.etag if seen is not None else None
        try:
            for _ in range(_ATTEMPTS):
                try:
                    await self._put(
                        key,
                        data,
                        if_match=etag,
                        if_absent=etag is None,
                        metadata={MIRROR_META: str(doc.head), MIRROR_INCARNATION: doc.incarnation},
                    )
                    return
                except PreconditionFailed:
                    now = await self._head(key)
                    if now is None:
                        etag = None
                        continue
                    mirrored = _mirror_of(now)
                    if mirrored is None and now.etag != doc.adopted_etag:
                        return  # an outside write, newer than ours
                    ours_now = mirrored is not None and mirrored[0] == doc.incarnation
                    if ours_now and mirrored is not None and mirrored[1] >= doc.head:
                        return  # a newer commit's copy
                    etag = now.etag
        except StorageUnavailable as exc:
            _log.warning("s3 store: could not refresh %s: %s", key, exc.message)

    async def read_state(self, unit_id: UnitId) -> tuple[StateVersion, bytes] | None:
        view, version, data = await self._current(unit_id, data=True)
        if version is None or data is None:
            return None
        if not view.pending and not _mirror_in_sync(view):
            await self._refresh_mirror(unit_id, view.doc, data, view.state)
        return version, data

    async def list_versions(self, unit_id: UnitId) -> Sequence[StateVersion]:
        view, current, _ = await self._current(unit_id, data=False)
        versions = [e.version for e in reversed(view.doc.versions)]
        if view.pending and current is not None:
            versions.insert(0, current)
        return versions

    async def read_version(self, unit_id: UnitId, number: int) -> tuple[StateVersion, bytes]:
        view = await self._view(unit_id)
        if view.pending and number == view.doc.next_number:
            _, version, data = await self._current(unit_id, data=True)
            if version is not None and data is not None and version.number == number:
                return version, data
            raise VersionNotFound(unit_id, number)
        entry = view.doc.entry(number)
        if entry is None:
            raise VersionNotFound(unit_id, number)
        return entry.version, await self._version_bytes(unit_id, entry)

    async def ping(self) -> None:
        with vendor_errors(f"HeadBucket {self.bucket}"):
            await self._client.head_bucket(Bucket=self.bucket)

    async def aclose(self) -> None:
        await self._stack.aclose()


async def _both(a: Awaitable[A], b: Awaitable[B]) -> tuple[A, B]:
    """Await two requests concurrently: one round trip instead of two."""
    results: list[Any] = [None, None]

    async def run(i: int, aw: Awaitable[Any]) -> None:
        results[i] = await aw

    async with first_error(), anyio.create_task_group() as tg:
        tg.start_soon(run, 0, a)
        tg.start_soon(run, 1, b)
    return results[0], results[1]


# -- classification ----------------------------------------------------------


def _mirror_of(obj: _Obj) -> tuple[str, int] | None:
    """(incarnation, version number) of a ``terraform.tfstate`` we wrote; None
    for anyone else's (an outside ``PutObject`` replaces the metadata)."""
    meta = obj.metadata or {}
    raw = meta.get(MIRROR_META)
    if raw is None:
        return None
    try:
        return meta.get(MIRROR_INCARNATION, ""), int(raw)
    except ValueError:
        return None


def _pending(doc: _Doc, state: _Obj | None) -> bool | None:
    """Is ``terraform.tfstate`` a write from outside OpenTaco that the live
    ``doc``'s history does not hold yet? ``None`` when only the object's
    metadata can tell (a listing does not return it).

    Not pending: no object; the outside object we already adopted; the head's
    exact bytes (an S3 ETag of a plain upload is its MD5); or any copy we
    wrote, even a stale one (repaired on the next read).
    """
    if state is None or state.etag == doc.adopted_etag:
        return False
    head = doc.head_entry
    if head is not None and state.etag.strip('"') == head.version.md5:
        return False
    if state.metadata is None:
        return None
    return _mirror_of(state) is None


def _outside_over(tomb: _Doc | None, state: _Obj) -> bool:
    """Does ``state`` make a live unit where there is no live ``unit.json``
    (none, or a tombstone)? Yes unless it is a copy we wrote or the object
    the deleted incarnation left behind."""
    if tomb is None:
        return True
    return _mirror_of(state) is None and state.etag != tomb.adopted_etag


def _valid(
    records: Sequence[_Record], live: _Doc | None, *, include_purging: bool = False
) -> list[_Record]:
    """The records that are deleted incarnations. A record of the incarnation
    that is live is a leftover of an undelete cut short; a ``purging`` one is
    already on its way out."""
    return [
        r
        for r in records
        if (include_purging or not r.doc.purging)
        and (live is None or r.doc.incarnation != live.incarnation)
    ]


def _mirror_in_sync(view: _View) -> bool:
    head = view.doc.head_entry
    if head is None:
        return True
    state = view.state
    if state is None:
        return False
    return (
        _mirror_of(state) == (view.doc.incarnation, head.version.number)
        or state.etag.strip('"') == head.version.md5
    )


def _unit_key(rel: str) -> tuple[UnitId, str] | None:
    """For a key relative to the store's prefix that names one of a unit's own
    objects, the unit ID and which object (``STATE``, ``UNIT_DOC``, a lock
    name, or ``DELETED_DIR`` for a deleted incarnation's record).

    Folders whose name breaks the unit-ID rules (e.g. Terraform workspaces'
    ``env:/``) are left out: no API call could name them.
    """
    raw: str | None = None
    kind = ""
    cut = rel.find("/" + DELETED_DIR)
    if cut > 0 and rel.endswith(".json") and "/" not in rel[cut + 1 + len(DELETED_DIR) :]:
        raw, kind = rel[:cut], DELETED_DIR
    else:
        for name in (STATE, UNIT_DOC, TFLOCK, LEGACY_LOCK):
            if rel.endswith("/" + name):
                raw, kind = rel[: -len(name) - 1], name
                break
    if raw is None:
        return None
    try:
        return parse_unit_id(raw), kind
    except InvalidUnitId:
        return None


def _unit_of(view: _View, holder: LockInfo | None) -> Unit:
    doc = view.doc
    if view.pending:
        assert view.state is not None
        size, updated = view.state.size, view.state.last_modified
    else:
        head = doc.head_entry
        size, updated = (head.version.size if head else 0), doc.updated
    return Unit(
        id=view.unit_id,
        created=doc.created,
        updated=updated,
        size=size,
        lock=holder,
        labels=doc.labels,
        head=view.head_number,
        deleted_at=doc.deleted_at,
    )


def _outside_version(unit_id: UnitId, number: int, obj: _Obj, body: bytes) -> StateVersion:
    """Metadata for a state someone wrote straight into the bucket."""
    return StateVersion(
        unit_id=unit_id,
        number=number,
        serial=(facts := _lenient_facts(body)).serial,
        lineage=facts.lineage,
        size=facts.size,
        sha256=facts.sha256,
        md5=facts.md5,
        created=obj.last_modified,
        surface=str(Surface.S3),
        note="written to the bucket outside OpenTaco",
    )


def _lenient_facts(data: bytes) -> StateFacts:
    # Whatever someone put in the bucket is kept; a non-JSON state just has no
    # serial or lineage for the clobber guard to compare.
    try:
        return read_facts(data)
    except InvalidState:
        sha256, md5 = fingerprint(data)
        return StateFacts(serial=None, lineage=None, size=len(data), sha256=sha256, md5=md5)


def _object_name(number: int) -> str:
    return f"{number:010d}-{uuid.uuid4().hex[:16]}"


# -- encoding ------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    # Whole seconds: a listing reports milliseconds, a HEAD only seconds, and a
    # unit must not change its timestamps depending on which call read it.
    return value.astimezone(UTC).replace(microsecond=0)


def _obj_of(key: str, resp: Mapping[str, Any], body: bytes | None) -> _Obj:
    return _Obj(
        key=key,
        etag=str(resp.get("ETag", "")),
        size=int(resp.get("ContentLength", len(body or b""))),
        last_modified=_utc(resp["LastModified"]),
        metadata={k.lower(): v for k, v in resp.get("Metadata", {}).items()},
        body=body,
    )


def _ts(value: datetime | None) -> str | None:
    return value.isoformat(timespec="microseconds") if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _required_dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _lock_json(lock: LockInfo) -> bytes:
    """Terraform's LockInfo JSON (capitalised keys), so Terraform's own s3
    backend can read our lock and report its holder."""
    return json.dumps(terraform_lock_json(lock)).encode()


def _lock_of(data: bytes) -> LockInfo:
    """Read a lock object, whatever wrote it: Terraform (``ID``, ``Who`` ...) or
    the Go reference (``id``, ``who`` ...). An unreadable one still counts as
    held, so we never write over a lock we cannot understand."""
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return LockInfo(
            id="", who="unknown", info="unreadable lock object; remove it with a forced unlock"
        )
    return held_lock_from_json(doc)


def _doc_json(doc: _Doc) -> bytes:
    return json.dumps(
        {
            "format": DOC_FORMAT,
            "created": _ts(doc.created),
            "updated": _ts(doc.updated),
            "labels": dict(doc.labels),
            "head": doc.head,
            "next_number": doc.next_number,
            "incarnation": doc.incarnation,
            "deleted_at": _ts(doc.deleted_at),
            "purging": doc.purging,
            "tombstone": doc.tombstone,
            "adopted_etag": doc.adopted_etag,
            "versions": [_entry_json(e) for e in doc.versions],
            "write": uuid.uuid4().hex,
        },
        sort_keys=True,
    ).encode()


def _entry_json(entry: _Entry) -> dict[str, Any]:
    v = entry.version
    return {
        "object": entry.name,
        "number": v.number,
        "serial": v.serial,
        "lineage": v.lineage,
        "size": v.size,
        "sha256": v.sha256,
        "md5": v.md5,
        "created": _ts(v.created),
        "author": v.author,
        "surface": v.surface,
        "quarantined": v.quarantined,
        "note": v.note,
        "restored_from": v.restored_from,
    }


def _doc_of(unit_id: str, data: bytes) -> _Doc:
    try:
        raw = json.loads(data)
        if raw.get("format", 0) > DOC_FORMAT:
            raise StorageUnavailable(
                f"unit {unit_id!r} was written by a newer OpenTaco (format {raw['format']}); "
                "upgrade OpenTaco"
            )
        created = _required_dt(raw["created"])
        return _Doc(
            created=created,
            updated=_dt(raw.get("updated")) or created,
            labels=raw.get("labels") or {},
            head=raw.get("head"),
            next_number=raw["next_number"],
            versions=tuple(_entry_of(unit_id, e) for e in raw.get("versions", [])),
            incarnation=str(raw.get("incarnation", "")),
            deleted_at=_dt(raw.get("deleted_at")),
            purging=bool(raw.get("purging")),
            tombstone=bool(raw.get("tombstone")),
            adopted_etag=raw.get("adopted_etag"),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StorageUnavailable(
            f"the metadata of unit {unit_id!r} ({UNIT_DOC}) is unreadable: {exc!r}"
        ) from exc


def _entry_of(unit_id: str, raw: Mapping[str, Any]) -> _Entry:
    return _Entry(
        StateVersion(
            unit_id=UnitId(unit_id),
            number=raw["number"],
            serial=raw.get("serial"),
            lineage=raw.get("lineage"),
            size=raw["size"],
            sha256=raw["sha256"],
            md5=raw["md5"],
            created=_required_dt(raw["created"]),
            author=raw.get("author", ""),
            surface=raw.get("surface", ""),
            quarantined=bool(raw.get("quarantined")),
            note=raw.get("note", ""),
            restored_from=raw.get("restored_from"),
        ),
        raw["object"],
    )
