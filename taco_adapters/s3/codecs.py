"""What a unit's ``unit.json`` (and a deleted incarnation's record) holds, and
its JSON.

``unit.json`` holds what S3 cannot: labels, the head and next version numbers
and the index of kept versions. Each write carries a random ``write`` nonce,
so a write botocore retried after a lost response is recognised as ours
(the stored bytes are exactly ours) rather than as a lost race.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
from attrs import frozen

from taco_adapters.s3.bucket import S3Object
from taco_adapters.s3.layout import UNIT_DOC, new_id
from taco_adapters.timestamps import (
    decode_optional_time,
    decode_time,
    encode_optional_time,
    encode_time,
)
from taco_core.errors import StorageUnavailable
from taco_core.model import StateVersion, UnitId

DOC_FORMAT = 1


@frozen
class Entry:
    """A kept version in the index: its metadata and its object's name."""

    version: StateVersion
    name: str


@frozen
class Doc:
    """One incarnation of a unit: the content of ``unit.json`` while it is
    live, of a ``deleted/<incarnation>-<token>.json`` record once deleted.

    A unit with no ``unit.json`` (written by Terraform or Terragrunt alone)
    reads as the *virtual* doc ``Doc.foreign``. A deleted unit leaves a
    *tombstone* in ``unit.json``: the ID is free, and the tombstone remembers
    which ``terraform.tfstate`` object (``adopted_etag``) died with it.
    """

    created: datetime
    updated: datetime
    labels: Mapping[str, str] = attrs.field(factory=dict)
    head: int | None = None
    next_number: int = 1
    versions: tuple[Entry, ...] = ()
    incarnation: str = attrs.field(factory=new_id)
    deleted_at: datetime | None = None
    purging: bool = False
    tombstone: bool = False
    adopted_etag: str | None = None

    @classmethod
    def foreign(cls, state: S3Object) -> Doc:
        # next_number 0: the state already there becomes version 0 when adopted,
        # so units we create still number their first write 1.
        return cls(created=state.last_modified, updated=state.last_modified, next_number=0)

    def tomb(self, at: datetime, state: S3Object | None) -> Doc:
        return Doc(
            created=at,
            updated=at,
            incarnation=self.incarnation,
            tombstone=True,
            adopted_etag=state.etag if state is not None else None,
        )

    @property
    def head_entry(self) -> Entry | None:
        return self.entry(self.head) if self.head is not None else None

    def entry(self, number: int) -> Entry | None:
        for entry in self.versions:
            if entry.version.number == number:
                return entry
        return None


def doc_json(doc: Doc) -> bytes:
    return json.dumps(
        {
            "format": DOC_FORMAT,
            "created": encode_time(doc.created),
            "updated": encode_time(doc.updated),
            "labels": dict(doc.labels),
            "head": doc.head,
            "next_number": doc.next_number,
            "incarnation": doc.incarnation,
            "deleted_at": encode_optional_time(doc.deleted_at),
            "purging": doc.purging,
            "tombstone": doc.tombstone,
            "adopted_etag": doc.adopted_etag,
            "versions": [_entry_json(e) for e in doc.versions],
            "write": new_id(),
        },
        sort_keys=True,
    ).encode()


def _entry_json(entry: Entry) -> dict[str, Any]:
    v = entry.version
    return {
        "object": entry.name,
        "number": v.number,
        "serial": v.serial,
        "lineage": v.lineage,
        "size": v.size,
        "sha256": v.sha256,
        "md5": v.md5,
        "created": encode_time(v.created),
        "author": v.author,
        "surface": v.surface,
        "quarantined": v.quarantined,
        "note": v.note,
        "restored_from": v.restored_from,
    }


def doc_of(unit_id: str, data: bytes) -> Doc:
    """Read a ``unit.json`` or a deleted record; ``StorageUnavailable`` when it
    is unreadable or written by a newer OpenTaco (rewriting it would drop
    what this version does not know)."""
    try:
        raw = json.loads(data)
        if raw.get("format", 0) > DOC_FORMAT:
            raise StorageUnavailable(
                f"unit {unit_id!r} was written by a newer OpenTaco (format {raw['format']}); "
                "upgrade OpenTaco"
            )
        created = decode_time(raw["created"])
        return Doc(
            created=created,
            updated=decode_optional_time(raw.get("updated")) or created,
            labels=raw.get("labels") or {},
            head=raw.get("head"),
            next_number=raw["next_number"],
            versions=tuple(_entry_of(unit_id, e) for e in raw.get("versions", [])),
            incarnation=str(raw.get("incarnation", "")),
            deleted_at=decode_optional_time(raw.get("deleted_at")),
            purging=bool(raw.get("purging")),
            tombstone=bool(raw.get("tombstone")),
            adopted_etag=raw.get("adopted_etag"),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StorageUnavailable(
            f"the metadata of unit {unit_id!r} ({UNIT_DOC}) is unreadable: {exc!r}"
        ) from exc


def _entry_of(unit_id: str, raw: Mapping[str, Any]) -> Entry:
    return Entry(
        StateVersion(
            unit_id=UnitId(unit_id),
            number=raw["number"],
            serial=raw.get("serial"),
            lineage=raw.get("lineage"),
            size=raw["size"],
            sha256=raw["sha256"],
            md5=raw["md5"],
            created=decode_time(raw["created"]),
            author=raw.get("author", ""),
            surface=raw.get("surface", ""),
            quarantined=bool(raw.get("quarantined")),
            note=raw.get("note", ""),
            restored_from=raw.get("restored_from"),
        ),
        raw["object"],
    )
