"""How the S3 store reads a unit out of its objects: which ``terraform.tfstate``
is ours and which an outside write to adopt, which records are deleted
incarnations, and what the port reports for them.

These are the rules that let OpenTaco serve a plain Terraform or Terragrunt
bucket as it is. They are pure functions of what was read, so they are
written and tested once, apart from the I/O that gathers the objects.
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import frozen

from taco_adapters.s3.bucket import S3Object
from taco_adapters.s3.codecs import Doc
from taco_adapters.s3.layout import MIRROR_INCARNATION, MIRROR_META
from taco_core.errors import InvalidState
from taco_core.model import LockInfo, StateFacts, StateVersion, Surface, Unit, UnitId
from taco_core.state_doc import fingerprint, read_facts


@frozen
class View:
    """One live unit as read now: its doc, the ETag a compare-and-swap of
    ``unit.json`` must name (``None``: there is no ``unit.json`` yet; for a
    virtual doc it may be a tombstone's), its ``terraform.tfstate`` object,
    and whether that object is an outside write not yet in the history (it
    is then the head, numbered ``next_number``)."""

    unit_id: UnitId
    doc: Doc
    etag: str | None
    state: S3Object | None
    pending: bool

    @property
    def head_number(self) -> int | None:
        return self.doc.next_number if self.pending else self.doc.head


@frozen
class Record:
    """A deleted incarnation: its record object and what it holds."""

    key: str
    etag: str
    doc: Doc


@frozen
class Listed:
    """What one listing pass saw of a unit's folder."""

    state: S3Object | None = None
    has_doc: bool = False
    has_lock: bool = False
    records: tuple[str, ...] = ()


def mirror_of(obj: S3Object) -> tuple[str, int] | None:
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


def pending(doc: Doc, state: S3Object | None) -> bool | None:
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
    return mirror_of(state) is None


def outside_over(tomb: Doc | None, state: S3Object) -> bool:
    """Does ``state`` make a live unit where there is no live ``unit.json``
    (none, or a tombstone)? Yes unless it is a copy we wrote or the object
    the deleted incarnation left behind."""
    if tomb is None:
        return True
    return mirror_of(state) is None and state.etag != tomb.adopted_etag


def valid(
    records: Sequence[Record], live: Doc | None, *, include_purging: bool = False
) -> list[Record]:
    """The records that are deleted incarnations. A record of the incarnation
    that is live is a leftover of an undelete cut short; a ``purging`` one is
    already on its way out."""
    return [
        r
        for r in records
        if (include_purging or not r.doc.purging)
        and (live is None or r.doc.incarnation != live.incarnation)
    ]


def mirror_in_sync(view: View) -> bool:
    head = view.doc.head_entry
    if head is None:
        return True
    state = view.state
    if state is None:
        return False
    return (
        mirror_of(state) == (view.doc.incarnation, head.version.number)
        or state.etag.strip('"') == head.version.md5
    )


def unit_of(view: View, holder: LockInfo | None) -> Unit:
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


def outside_version(unit_id: UnitId, number: int, obj: S3Object, body: bytes) -> StateVersion:
    """Metadata for a state someone wrote straight into the bucket."""
    return StateVersion(
        unit_id=unit_id,
        number=number,
        serial=(facts := lenient_facts(body)).serial,
        lineage=facts.lineage,
        size=facts.size,
        sha256=facts.sha256,
        md5=facts.md5,
        created=obj.last_modified,
        surface=str(Surface.S3),
        note="written to the bucket outside OpenTaco",
    )


def lenient_facts(data: bytes) -> StateFacts:
    # Whatever someone put in the bucket is kept; a non-JSON state just has no
    # serial or lineage for the clobber guard to compare.
    try:
        return read_facts(data)
    except InvalidState:
        sha256, md5 = fingerprint(data)
        return StateFacts(serial=None, lineage=None, size=len(data), sha256=sha256, md5=md5)
