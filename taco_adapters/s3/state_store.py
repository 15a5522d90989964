"""``StateStore`` on S3 (AWS or any S3-compatible store), shared by any number of replicas.

Why it holds across replicas: S3 itself decides every race. A lock is one
object created with ``If-None-Match: *`` (``taco_adapters.s3.locks``); a
unit's head moves by a compare-and-swap of its small ``unit.json`` with
``If-Match: <etag>`` (``taco_adapters.s3.codecs``). No replica keeps state of
its own, so they can come and go. Where each object lives:
``taco_adapters.s3.layout``; how a plain Terraform bucket's objects are read
as units: ``taco_adapters.s3.views``.

What is kept in memory, and why it cannot go stale: version objects never
change their content (a superseded one is only re-encoded, compressed, under
its own key), so their bytes are cached by key; ``unit.json`` is cached with
its ETag and re-read with a conditional GET, which answers 304 without a
body while it is unchanged. Every read still asks S3 for the current
``unit.json``, so no replica serves a head another replica replaced.

A superseded version's object is compressed (zstd, standalone, marked with
``x-amz-meta-opentaco-encoding: zstd``) by the commit that replaced it. The
head's object and ``terraform.tfstate`` stay plain JSON, so Terraform and
Terragrunt read the bucket as before; whole objects written by an older
OpenTaco stay readable as they are.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

import attrs

from taco_adapters import compression
from taco_adapters.byte_cache import DEFAULT_BUDGET, ByteCache
from taco_adapters.s3.bucket import (
    BucketStore,
    FanOut,
    NotModified,
    ObjectStream,
    PreconditionFailed,
    S3Bucket,
    S3Object,
    both,
)
from taco_adapters.s3.codecs import Doc, Entry, doc_json, doc_of
from taco_adapters.s3.layout import (
    DELETED_DIR,
    ENCODING_META,
    MIRROR_INCARNATION,
    MIRROR_META,
    STATE,
    UNIT_DOC,
    Layout,
    object_name,
)
from taco_adapters.s3.locks import LockObjects
from taco_adapters.s3.views import (
    Listed,
    Record,
    View,
    mirror_in_sync,
    mirror_of,
    outside_over,
    outside_version,
    pending,
    unit_of,
    valid,
)
from taco_adapters.wire import unit_document
from taco_core import locks
from taco_core.content import BytesReader, StateReader
from taco_core.errors import (
    ConcurrentUpdate,
    LockConflict,
    StorageUnavailable,
    UnitAlreadyExists,
    UnitNotFound,
    VersionNotFound,
)
from taco_core.labels import apply_label_changes
from taco_core.model import (
    LockInfo,
    NewVersion,
    Payload,
    RetentionPolicy,
    StateVersion,
    Unit,
    UnitId,
    VersionPage,
)
from taco_core.retention import prunable

_log = logging.getLogger(__name__)

# Conditional writes lose races by design; a loser re-reads and decides again.
# Contention on one unit is rare (Terraform holds a lock), so a few rounds do.
_ATTEMPTS = 8
# Parallel requests per call, so a listing of many units does not open a
# connection per unit (botocore's pool holds 10 by default).
_FAN_OUT = 8
# Parsed unit.json documents kept for conditional GETs.
_DOCS = 10_000
# Heads larger than this are streamed from their object rather than read whole.
_STREAM_OVER = 8 * 1024 * 1024


class _StreamReader:
    """A ``StateReader`` over one GET's body."""

    def __init__(self, stream: ObjectStream, size: int) -> None:
        self._stream = stream
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    @property
    def whole(self) -> None:
        return None

    async def read(self, limit: int) -> bytes:
        chunk = await self._stream.read(limit)
        if not chunk:
            await self._stream.aclose()
        return chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


class S3StateStore(BucketStore):
    """``StateStore`` in an S3 bucket, under an optional key prefix.

    Build it with ``open`` (which creates and owns one client and checks the
    bucket), or on an ``S3Bucket`` you open and close, which other stores may
    share (``opentacosvc`` keeps its credentials in the same bucket).
    """

    # Keys per ListObjectsV2 page; tests lower it to exercise pagination.
    page_size = 1000

    def __init__(self, bucket: S3Bucket, *, prefix: str = "") -> None:
        super().__init__(bucket, prefix=prefix)
        self._layout = Layout(prefix)
        self._locks = LockObjects(bucket, self._layout, attempts=_ATTEMPTS)
        self._fan_out = FanOut(_FAN_OUT)
        self._docs: dict[str, tuple[str, Doc]] = {}
        self._versions: ByteCache[str, bytes] = ByteCache(DEFAULT_BUDGET)

    def _version_key(self, unit_id: str, entry: Entry) -> str:
        return self._layout.version_key(unit_id, entry.name)

    # -- reading a unit --------------------------------------------------------

    async def _read_doc(self, unit_id: str) -> tuple[Doc, str] | None:
        key = self._layout.key(unit_id, UNIT_DOC)
        known = self._docs.get(key)
        try:
            obj = await self._s3.get(key, unless_etag=known[0] if known else None)
        except NotModified:
            assert known is not None
            return known[1], known[0]
        if obj is None:
            self._docs.pop(key, None)
            return None
        doc = doc_of(unit_id, obj.body or b"")
        if len(self._docs) >= _DOCS:
            self._docs.clear()
        self._docs[key] = (obj.etag, doc)
        return doc, obj.etag

    async def _put_doc(self, unit_id: str, doc: Doc, *, etag: str | None) -> str:
        """Compare-and-swap ``unit.json``: replace the version with ``etag``, or
        create it when ``etag`` is None. ``PreconditionFailed`` if it changed.

        A 412 may also mean our own write landed and botocore retried it after a
        lost response; the stored bytes then match ours exactly (each write
        carries a random ``write`` ID), so that counts as success.
        """
        key = self._layout.key(unit_id, UNIT_DOC)
        body = doc_json(doc)
        try:
            return await self._s3.put(key, body, if_match=etag, if_absent=etag is None)
        except PreconditionFailed:
            now = await self._s3.get(key)
            if now is not None and now.body == body:
                return now.etag
            raise

    async def _view(self, unit_id: UnitId) -> View:
        """The live unit as it is now; ``UnitNotFound`` if there is none."""
        found, state = await both(
            self._read_doc(unit_id), self._s3.head(self._layout.key(unit_id, STATE))
        )
        doc, etag = found if found is not None else (None, None)
        if doc is None or doc.tombstone:
            if state is None or not outside_over(doc, state):
                raise UnitNotFound(unit_id)
            return View(unit_id, Doc.foreign(state), etag, state, pending=True)
        return View(unit_id, doc, etag, state, pending=pending(doc, state) is True)

    async def _records(self, unit_id: str, keys: Sequence[str] | None = None) -> list[Record]:
        """The unit's deleted incarnations (their records under ``DELETED_DIR``)."""
        if keys is None:
            folder = self._layout.key(unit_id, DELETED_DIR)
            keys = [obj.key async for obj in self._s3.list(folder, page_size=self.page_size)]

        async def read(key: str) -> Record | None:
            obj = await self._s3.get(key)
            if obj is None:
                return None
            return Record(key, obj.etag, doc_of(unit_id, obj.body or b""))

        found = await self._fan_out([functools.partial(read, k) for k in keys])
        return [r for r in found if r is not None]

    async def _current(
        self, unit_id: UnitId, *, data: bool
    ) -> tuple[View, StateVersion | None, bytes | None]:
        """The unit's head version (and its bytes if ``data``); if
        ``terraform.tfstate`` changes while we read it, we read again."""
        for _ in range(_ATTEMPTS):
            view = await self._view(unit_id)
            found = await self._head_of(view, data=data)
            if found is not None:
                return view, *found
        raise self._kept_changing(unit_id)

    async def _head_of(
        self, view: View, *, data: bool
    ) -> tuple[StateVersion | None, bytes | None] | None:
        """The head version of ``view`` (and its bytes if ``data``); ``None``
        when ``terraform.tfstate`` changed since ``view`` was read. An outside
        write is read whole to learn its serial and lineage."""
        unit_id = view.unit_id
        if view.pending:
            assert view.state is not None
            obj = await self._s3.get(view.state.key)
            if obj is None or obj.etag != view.state.etag:
                return None
            body = obj.body or b""
            return outside_version(unit_id, view.doc.next_number, obj, body), body
        entry = view.doc.head_entry
        if entry is None:
            return None, None
        if not data:
            return entry.version, None
        try:
            return entry.version, await self._version_bytes(unit_id, entry)
        except VersionNotFound:
            raise StorageUnavailable(
                f"the current version of unit {unit_id!r} is listed in {UNIT_DOC} but its "
                "object is missing from the bucket"
            ) from None

    def _kept_changing(self, unit_id: UnitId) -> StorageUnavailable:
        return StorageUnavailable(
            f"the state of unit {unit_id!r} kept changing while it was read; try again"
        )

    async def _version_bytes(self, unit_id: UnitId, entry: Entry) -> bytes:
        key = self._version_key(unit_id, entry)
        cached = self._versions.get(key)
        if cached is not None:
            return cached
        obj = await self._s3.get(key)
        if obj is None:
            raise VersionNotFound(unit_id, entry.version.number)
        data = obj.body or b""
        if (obj.metadata or {}).get(ENCODING_META) == "zstd":
            data = compression.decompress(data)
        self._versions.put(key, data, len(data))
        return data

    async def _compress_superseded(self, unit_id: UnitId, entry: Entry) -> None:
        """Re-encode a version that is no longer the head as a zstd object
        under its own key (same content, so a reader gets either form, whole).
        A failure only leaves it whole; the commit has happened."""
        try:
            data = await self._version_bytes(unit_id, entry)
            await self._s3.put(
                self._version_key(unit_id, entry),
                compression.compress(data),
                metadata={ENCODING_META: "zstd"},
                content_type="application/zstd",
            )
        except (StorageUnavailable, VersionNotFound) as exc:
            _log.warning("s3 store: could not compress version %s: %s", entry.name, exc)

    # -- units ---------------------------------------------------------------

    async def create_unit(self, unit: Unit) -> Unit:
        """Create ``unit.json`` with ``If-None-Match: *``, or over a deleted
        incarnation's tombstone with ``If-Match``: exactly one creator wins."""
        found, state = await both(
            self._read_doc(unit.id), self._s3.head(self._layout.key(unit.id, STATE))
        )
        doc, etag = found if found is not None else (None, None)
        if doc is not None and not doc.tombstone:
            raise UnitAlreadyExists(unit.id)
        if state is not None and outside_over(doc, state):
            raise UnitAlreadyExists(unit.id)
        new = Doc(created=unit.created, updated=unit.updated, labels=unit.labels)
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
        view, holder = await both(self._view(unit_id), self._locks.holder(unit_id))
        return unit_of(view, holder)

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

    async def unit_documents(
        self,
        prefix: str = "",
        *,
        deleted: bool = False,
        after: str = "",
        limit: int | None = None,
    ) -> Sequence[tuple[UnitId, str]]:
        if deleted:
            units = [u for u in await self.list_units(prefix, deleted=True) if u.id > after]
            return [(u.id, unit_document(u)) for u in units[:limit]]
        seen = await self._scan(prefix)
        ids = sorted(k for k, v in seen.items() if (v.state is not None or v.has_doc) and k > after)
        wanted = len(ids) if limit is None else limit
        out: list[tuple[UnitId, str]] = []
        # Read only the units of this page (a listing may name units that
        # vanish meanwhile: read on until the page is full).
        while ids and len(out) < wanted:
            batch, ids = ids[: wanted - len(out)], ids[wanted - len(out) :]
            found = await self._fan_out(
                [functools.partial(self._live_unit, u, seen[u]) for u in batch]
            )
            out += [(u.id, unit_document(u)) for u in found if u is not None]
        return out

    async def _scan(self, prefix: str) -> dict[UnitId, Listed]:
        """One listing pass: which units exist under ``prefix`` and what of each."""
        seen: dict[UnitId, Listed] = {}
        async for obj in self._s3.list(
            self._layout.base + prefix, page_size=self.page_size, skip=self._layout.skip_after
        ):
            found = self._layout.unit_key(obj.key)
            if found is None or not found[0].startswith(prefix):
                continue
            unit_id, kind = found
            listed = seen.get(unit_id, Listed())
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

    async def _live_unit(self, unit_id: UnitId, listed: Listed) -> Unit | None:
        found = await self._read_doc(unit_id) if listed.has_doc else None
        doc, etag = found if found is not None else (None, None)
        state = listed.state
        if doc is None or doc.tombstone:
            if state is not None and doc is not None:
                # Only the metadata tells a leftover of ours from a new write.
                state = await self._s3.head(state.key)
            if state is None or not outside_over(doc, state):
                return None
            view = View(unit_id, Doc.foreign(state), etag, state, pending=True)
        else:
            outside = pending(doc, state)
            if outside is None:
                state = await self._s3.head(self._layout.key(unit_id, STATE))
                outside = pending(doc, state)
            view = View(unit_id, doc, etag, state, pending=outside is True)
        holder = await self._locks.holder(unit_id) if listed.has_lock else None
        return unit_of(view, holder)

    async def _deleted_units(self, unit_id: UnitId, listed: Listed) -> list[Unit]:
        found, records = await both(self._read_doc(unit_id), self._records(unit_id, listed.records))
        live = found[0] if found is not None and not found[0].tombstone else None
        kept = [r.doc for r in valid(records, live)]
        kept.sort(key=lambda d: d.deleted_at or d.created, reverse=True)
        return [unit_of(View(unit_id, doc, None, None, pending=False), None) for doc in kept]

    async def delete_unit(self, unit_id: UnitId, at: datetime) -> None:
        """Write the incarnation's record under ``DELETED_DIR``, then swap
        ``unit.json`` for a tombstone (the atomic step that frees the ID), then
        remove ``terraform.tfstate`` so plain Terraform sees the ID free too.

        A state written from outside is adopted into the history first, so the
        deleted incarnation keeps it. Like a commit, the lock is checked again
        after the swap, and a lock taken in between undoes the delete.
        """
        for _ in range(_ATTEMPTS):
            view, holder = await both(self._view(unit_id), self._locks.holder(unit_id))
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
            record = self._layout.record_key(unit_id, base.incarnation)
            await self._s3.put(record, doc_json(attrs.evolve(base, deleted_at=at)))
            try:
                etag = await self._put_doc(unit_id, base.tomb(at, view.state), etag=view.etag)
            except PreconditionFailed:
                await self._discard([record, *written])
                continue
            holder = await self._locks.holder(unit_id)
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
            (found, state), records = await both(
                both(self._read_doc(unit_id), self._s3.head(self._layout.key(unit_id, STATE))),
                self._records(unit_id),
            )
            doc, etag = found if found is not None else (None, None)
            live = doc if doc is not None and not doc.tombstone else None
            candidates = valid(records, live)
            if not candidates:
                raise UnitNotFound(unit_id)
            if live is not None or (state is not None and outside_over(doc, state)):
                raise UnitAlreadyExists(unit_id)
            newest = max(candidates, key=lambda r: r.doc.deleted_at or r.doc.created)
            back = attrs.evolve(newest.doc, deleted_at=None)
            try:
                swapped = await self._put_doc(unit_id, back, etag=etag)
            except PreconditionFailed:
                continue
            try:
                await self._s3.delete(newest.key, if_match=newest.etag)
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
        found, records = await both(self._read_doc(unit_id), self._records(unit_id, keys))
        live = found[0] if found is not None and not found[0].tombstone else None
        purged: list[UnitId] = []
        for record in valid(records, live, include_purging=True):
            deleted_at = record.doc.deleted_at
            if deleted_at is None or deleted_at >= deleted_before:
                continue
            if not record.doc.purging:
                marked = doc_json(attrs.evolve(record.doc, purging=True))
                try:
                    await self._s3.put(record.key, marked, if_match=record.etag)
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
            await self._fan_out([functools.partial(self._s3.delete, k) for k in doomed])
            await self._s3.delete(record.key)
            purged.append(unit_id)
        return purged

    async def update_labels(self, unit_id: UnitId, changes: Mapping[str, str | None]) -> Unit:
        """Compare-and-swap ``unit.json`` with the labels changed. A state
        written from outside is adopted first (a doc must exist to hold the
        labels), as a commit would."""
        for _ in range(_ATTEMPTS):
            view = await self._view(unit_id)
            base = view.doc
            written: list[str] = []
            if view.pending:
                adopted = await self._adopt(view)
                if adopted is None:
                    continue
                base, key = adopted
                written.append(key)
            doc = attrs.evolve(base, labels=apply_label_changes(base.labels, changes))
            try:
                await self._put_doc(unit_id, doc, etag=view.etag)
            except PreconditionFailed:
                await self._discard(written)
                continue
            return await self.get_unit(unit_id)
        raise ConcurrentUpdate(unit_id)

    # -- locks ---------------------------------------------------------------

    async def lock(self, unit_id: UnitId, wanted: LockInfo) -> LockInfo:
        """Create ``.tflock`` with ``If-None-Match: *`` (``LockObjects.acquire``)."""
        return await self._locks.acquire(unit_id, wanted, unit=lambda: self._view(unit_id))

    async def unlock(self, unit_id: UnitId, lock_id: str | None) -> LockInfo | None:
        """Delete the lock with ``If-Match`` on the holder checked
        (``LockObjects.release``); ``None`` forces."""
        await self._view(unit_id)
        return await self._locks.release(unit_id, lock_id)

    # -- history -------------------------------------------------------------

    async def head(self, unit_id: UnitId) -> StateVersion | None:
        _, version, _ = await self._current(unit_id, data=False)
        return version

    async def unit_and_head(self, unit_id: UnitId) -> tuple[Unit, StateVersion | None]:
        """The view, the lock holder and (for an outside write) the state
        object, read in one round where ``get_unit`` and ``head`` take two."""
        for _ in range(_ATTEMPTS):
            view, holder = await both(self._view(unit_id), self._locks.holder(unit_id))
            found = await self._head_of(view, data=False)
            if found is not None:
                return unit_of(view, holder), found[0]
        raise self._kept_changing(unit_id)

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
            view, holder = await both(self._view(unit_id), self._locks.holder(unit_id))
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
            entry = Entry(version, object_name(number))
            key = self._version_key(unit_id, entry)
            await self._s3.put(key, new.data)
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
            after = await self._locks.holder(unit_id)
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
                if isinstance(new.data, bytes):
                    self._versions.put(key, new.data, len(new.data))
                replaced = base.head_entry
                if replaced is not None and doc.entry(replaced.version.number) is not None:
                    await self._compress_superseded(unit_id, replaced)
            return version
        raise ConcurrentUpdate(unit_id)

    async def _adopt(self, view: View) -> tuple[Doc, str] | None:
        """Keep the outside write in ``terraform.tfstate`` as the next version and
        make it the head (in a doc not yet written). ``None`` if it changed."""
        assert view.state is not None
        obj = await self._s3.get(view.state.key)
        if obj is None or obj.etag != view.state.etag:
            return None
        number = view.doc.next_number
        body = obj.body or b""
        entry = Entry(outside_version(view.unit_id, number, obj, body), object_name(number))
        key = self._version_key(view.unit_id, entry)
        await self._s3.put(key, body)
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
                await self._s3.delete(key, if_match=if_match)
            except PreconditionFailed:
                pass  # replaced or gone meanwhile: not ours to delete any more
            except StorageUnavailable as exc:
                _log.warning("s3 store: could not delete %s: %s", key, exc.message)

    async def _refresh_mirror(
        self, unit_id: UnitId, doc: Doc, data: Payload, seen: S3Object | None
    ) -> None:
        """Make ``terraform.tfstate`` hold the head's bytes, conditionally on the
        object we last saw, so we never overwrite a newer write: a newer mirror
        of ours, or an outside write (which the next commit adopts).

        The doc is already committed, so failures are logged and left for the
        next read or commit to repair rather than reported as a failed write.
        """
        if doc.head is None:
            return
        key = self._layout.key(unit_id, STATE)
        etag = seen.etag if seen is not None else None
        try:
            for _ in range(_ATTEMPTS):
                try:
                    await self._s3.put(
                        key,
                        data,
                        if_match=etag,
                        if_absent=etag is None,
                        metadata={MIRROR_META: str(doc.head), MIRROR_INCARNATION: doc.incarnation},
                    )
                    return
                except PreconditionFailed:
                    now = await self._s3.head(key)
                    if now is None:
                        etag = None
                        continue
                    mirrored = mirror_of(now)
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
        if not view.pending and not mirror_in_sync(view):
            await self._refresh_mirror(unit_id, view.doc, data, view.state)
        return version, data

    async def open_state(self, unit_id: UnitId) -> tuple[StateVersion, StateReader] | None:
        """A large head is streamed from its version object (which never
        changes content); a small one, or an outside write still to adopt,
        is read whole like ``read_state``."""
        view = await self._view(unit_id)
        entry = view.doc.head_entry
        if view.pending or entry is None or entry.version.size <= _STREAM_OVER:
            found = await self.read_state(unit_id)
            return None if found is None else (found[0], BytesReader(found[1]))
        if not mirror_in_sync(view):
            return await self._open_whole(unit_id)  # let read_state repair the mirror
        key = self._version_key(unit_id, entry)
        cached = self._versions.get(key)
        if cached is not None:
            return entry.version, BytesReader(cached)
        opened = await self._s3.stream(key)
        if opened is None:
            return await self._open_whole(unit_id)  # replaced meanwhile: read afresh
        obj, stream = opened
        if (obj.metadata or {}).get(ENCODING_META) is not None:
            # Superseded and compressed since the doc was read: its content
            # is still this version's, but whole it must be decoded.
            await stream.aclose()
            return entry.version, BytesReader(await self._version_bytes(unit_id, entry))
        return entry.version, _StreamReader(stream, entry.version.size)

    async def _open_whole(self, unit_id: UnitId) -> tuple[StateVersion, StateReader] | None:
        found = await self.read_state(unit_id)
        return None if found is None else (found[0], BytesReader(found[1]))

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

    async def version_page(self, unit_id: UnitId, *, offset: int, limit: int) -> VersionPage:
        # The index is one object: the page costs what the whole history does.
        versions = await self.list_versions(unit_id)
        return VersionPage(tuple(versions[offset : offset + limit]), len(versions))

    async def ping(self) -> None:
        await self._s3.ping()
