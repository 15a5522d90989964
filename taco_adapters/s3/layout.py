"""Where the S3 stores keep what, under ``<prefix>/`` in the bucket.

Per unit, under ``<prefix>/<unit-id>/`` (``docs/storage.md`` has the full story):

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

The platform's own objects (credentials, the RBAC policy, the audit trail, the
organization directory, the S3 endpoint's multipart uploads in progress) live under
``<prefix>/__opentaco/``, a folder no unit ID can name.
"""

from __future__ import annotations

import uuid

from taco_core.errors import InvalidUnitId
from taco_core.model import UnitId
from taco_core.unit_id import parse_unit_id

STATE = "terraform.tfstate"
TFLOCK = "terraform.tfstate.tflock"
LEGACY_LOCK = "terraform.tfstate.lock"
META_DIR = "__opentaco"
UNIT_DOC = f"{META_DIR}/unit.json"
VERSIONS_DIR = f"{META_DIR}/versions/"
DELETED_DIR = f"{META_DIR}/deleted/"
AUTH_DIR = f"{META_DIR}/auth/"
AUDIT_DIR = f"{META_DIR}/audit/"
RBAC_POLICY = f"{META_DIR}/rbac/policy.json"
DIRECTORY = f"{META_DIR}/directory/directory.json"
UPLOADS_DIR = f"{META_DIR}/uploads/"
MIRROR_META = "opentaco-version"
MIRROR_INCARNATION = "opentaco-incarnation"
# On a version object compressed after it was superseded: "zstd".
ENCODING_META = "opentaco-encoding"


def new_id() -> str:
    """A random identifier for an incarnation or an object name."""
    return uuid.uuid4().hex


def object_name(number: int) -> str:
    """The name of version ``number``'s object: sortable, and never the name
    a racing writer of the same number picks."""
    return f"{number:010d}-{new_id()[:16]}"


class Layout:
    """The keys of one store's objects, under ``prefix`` (no slashes at its ends)."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix.strip("/")
        self.base = f"{self.prefix}/" if self.prefix else ""

    def folder(self, unit_id: str) -> str:
        # The layout relies on META_DIR never being a unit's own segment (the
        # unit-ID rules forbid "__" there); refuse rather than mix two units.
        if META_DIR in unit_id.split("/"):
            raise InvalidUnitId(f"unit ID {unit_id!r} must not contain a {META_DIR!r} segment")
        return f"{self.base}{unit_id}/"

    def key(self, unit_id: str, name: str) -> str:
        return self.folder(unit_id) + name

    def version_key(self, unit_id: str, name: str) -> str:
        """The object of the version stored as ``name`` (see ``object_name``)."""
        return self.key(unit_id, f"{VERSIONS_DIR}{name}.tfstate")

    def record_key(self, unit_id: str, incarnation: str) -> str:
        """A new, unique key for a deleted incarnation's record."""
        return self.key(unit_id, f"{DELETED_DIR}{incarnation}-{new_id()[:16]}.json")

    def auth_root(self) -> str:
        """The folder of the platform's credentials."""
        return self.base + AUTH_DIR

    def audit_root(self) -> str:
        """The folder of the audit trail's records."""
        return self.base + AUDIT_DIR

    def rbac_policy(self) -> str:
        """The object holding the RBAC policy document."""
        return self.base + RBAC_POLICY

    def directory(self) -> str:
        """The object holding the organization directory."""
        return self.base + DIRECTORY

    def uploads_root(self) -> str:
        """The folder of the S3 endpoint's multipart uploads in progress."""
        return self.base + UPLOADS_DIR

    def skip_after(self, last: str) -> str | None:
        """Where a listing of units continues after a page ending at ``last``,
        past objects that hold no unit; ``None`` to go on page by page."""
        if last.startswith(self.base + META_DIR + "/"):
            # The platform's own objects (auth tokens, keys) hold no unit:
            # jump past them, as "<base>__opentaco/" sorts before "...0".
            return self.base + META_DIR + "0"
        cut = last.find("/" + VERSIONS_DIR)
        if cut >= 0:
            # Keys under ".../versions/" sort before ".../versions0".
            return last[: cut + 1 + len(VERSIONS_DIR) - 1] + "0"
        return None

    def unit_key(self, key: str) -> tuple[UnitId, str] | None:
        """For a key that names one of a unit's own objects, the unit ID and
        which object (``STATE``, ``UNIT_DOC``, a lock name, or ``DELETED_DIR``
        for a deleted incarnation's record); ``None`` for any other key.

        Folders whose name breaks the unit-ID rules (e.g. Terraform workspaces'
        ``env:/``) are left out: no API call could name them.
        """
        rel = key[len(self.base) :]
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
