"""Frozen value objects of the domain.

They are plain data: no I/O, no serialisation format. Each edge (HTTP, CLI,
storage) converts them to its own representation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import NewType

from attrs import field, frozen

# A unit's ID, once checked by ``taco_core.unit_id.parse_unit_id``.
UnitId = NewType("UnitId", str)

# The largest number a caller may give where a store keeps one (a serial, a
# version number): SQLite's INTEGER is a signed 64-bit integer, and so is
# Terraform's own serial.
MAX_NUMBER = 2**63 - 1

# State bytes as received. Uploads arrive in a bytearray so a large state is
# held once instead of being copied into an immutable ``bytes``.
Payload = bytes | bytearray


def _frozen_labels(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return dict(value or {})


@frozen
class LockInfo:
    """A lock on a unit, with every field Terraform's ``LockInfo`` has.

    ``created`` is kept as the RFC 3339 text the locker sent (Terraform sends
    nanoseconds, which ``datetime`` cannot hold), so it round-trips exactly.
    ``owner`` is ours, not Terraform's: the service sets it to the acquiring
    principal's ``Principal.owner_key``, so protocols that cannot carry a
    lock ID on writes (Terraform's s3 and remote backends) can still write
    under a lock their own principal holds, and nobody else can.
    """

    id: str
    operation: str = ""
    info: str = ""
    who: str = ""
    version: str = ""
    created: str = ""
    path: str = ""
    owner: str = ""


@frozen
class Unit:
    """One Terraform state and its metadata.

    ``head`` is the number of the current version (``None`` until the first
    write); ``size`` and ``updated`` describe that version.
    """

    id: UnitId
    created: datetime
    updated: datetime
    size: int = 0
    lock: LockInfo | None = None
    labels: Mapping[str, str] = field(factory=dict, converter=_frozen_labels)
    head: int | None = None
    deleted_at: datetime | None = None

    @property
    def locked(self) -> bool:
        return self.lock is not None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


class Surface(StrEnum):
    """Through which front door a version was written (kept in history)."""

    BACKEND = "backend"
    API = "api"
    RESTORE = "restore"
    # Written straight into an S3 bucket (by Terraform's own s3 backend, say)
    # and adopted into the history by the S3 store.
    S3 = "s3"
    # Written by ``taco`` working on a local store (``--embedded``).
    CLI = "cli"
    # Written through the service's S3-compatible endpoint (``/s3/``), by
    # Terraform's own ``s3`` backend or any S3 client.
    S3_ENDPOINT = "s3-endpoint"
    # Written by the service itself (the dependency graph's updates).
    SYSTEM = "system"
    # Written by Terraform's ``remote`` or ``cloud`` backend through the
    # Terraform-Cloud-compatible API (``/api/v2``).
    TFE = "tfe"
    # Through the internal API (``/internal/api``), by a UI acting for the
    # user it names in ``X-User-ID``.
    INTERNAL = "internal"
    # The built-in web UI (``/ui/``): a person in a browser.
    UI = "ui"


@frozen
class StateFacts:
    """What the core reads out of a state payload; the bytes stay opaque."""

    serial: int | None
    lineage: str | None
    size: int
    sha256: str
    md5: str


@frozen
class NewVersion:
    """A version about to be appended; the store assigns its number."""

    facts: StateFacts
    data: Payload
    created: datetime
    author: str = ""
    surface: Surface = Surface.API
    quarantined: bool = False
    note: str = ""
    restored_from: int | None = None


@frozen
class StateVersion:
    """An immutable entry in a unit's history.

    Quarantined versions hold writes the clobber guard refused: they are kept
    so nothing is lost, but never become current unless restored.
    """

    unit_id: UnitId
    number: int
    serial: int | None
    lineage: str | None
    size: int
    sha256: str
    md5: str
    created: datetime
    author: str = ""
    surface: str = ""
    quarantined: bool = False
    note: str = ""
    restored_from: int | None = None

    @classmethod
    def from_new(cls, unit_id: UnitId, number: int, new: NewVersion) -> StateVersion:
        """The metadata a store records when it appends ``new`` as ``number``."""
        return cls(
            unit_id=unit_id,
            number=number,
            serial=new.facts.serial,
            lineage=new.facts.lineage,
            size=new.facts.size,
            sha256=new.facts.sha256,
            md5=new.facts.md5,
            created=new.created,
            author=new.author,
            surface=str(new.surface),
            quarantined=new.quarantined,
            note=new.note,
            restored_from=new.restored_from,
        )


@frozen
class VersionPage:
    """Part of a unit's history, newest first, and how long the whole is."""

    versions: tuple[StateVersion, ...]
    total: int


@frozen
class RetentionPolicy:
    """How much history a store keeps (see ``taco_core.retention``)."""

    max_versions: int = 100
    quarantine_grace_seconds: float = 7 * 24 * 3600.0
    max_quarantined: int = 20


@frozen
class WriteResult:
    """The version that is current after a write; ``changed`` is False for an
    idempotent repeat of the current bytes."""

    version: StateVersion
    changed: bool


@frozen
class DocumentPage:
    """Part of a listing of units, as the documents a store rendered
    (``StateStore.unit_documents``); ``next_after`` is where the next page
    starts (``None`` on the last page)."""

    documents: tuple[str, ...]
    next_after: str | None = None


@frozen
class StagedUpload:
    """A multipart upload in progress: parts are staged until it completes.

    ``target`` names what the upload becomes, in the words of the front end
    that started it (the S3 endpoint's ``bucket/key``); ``owner`` is the
    starting principal's ``Principal.owner_key``, the only one who may add
    parts, complete or abort it.
    """

    id: str
    target: str
    owner: str
    started: datetime
