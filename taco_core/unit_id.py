"""Unit-ID rules, and decoding of the IDs that arrive in URL paths.

An ID is one or more segments joined by single ``/``. A segment is
``[A-Za-z0-9._-]+`` and is neither ``.`` nor ``..``. The whole ID is at most 255
characters. ``__`` may appear only as the platform's reserved prefix
``__opentaco_`` at the very start (IDs the platform keeps for itself). Because
``__`` appears nowhere else, the reference tools' path encoding (``/`` sent as
``__``) can be decoded without ambiguity.

No segment may be named like the objects a unit keeps in its S3 folder: the
state ``terraform.tfstate`` and its lock objects (``terraform.tfstate.tflock``
as Terraform names them, ``terraform.tfstate.lock`` as the Go reference does,
and anything else the S3 API takes for a lock file: a name starting with
``terraform.tfstate`` and ending in ``.lock`` or ``.tflock``). A unit
``a/terraform.tfstate.tflock`` would otherwise put a folder where unit ``a``
keeps its lock object, which stores that are file systems underneath
(SeaweedFS, MinIO) refuse, so ``a`` could no longer be locked.
"""

from __future__ import annotations

import re

from taco_core.errors import InvalidInput, InvalidUnitId, ReservedUnitId
from taco_core.model import UnitId

__all__ = [
    "MAX_LENGTH",
    "RESERVED_PREFIX",
    "SYSTEM_UNIT",
    "UnitId",
    "check_prefix",
    "decode_path_id",
    "encode_path_id",
    "is_object_name",
    "is_reserved",
    "parse_unit_id",
    "parse_user_unit_id",
]

RESERVED_PREFIX = "__opentaco_"
STATE_OBJECT = "terraform.tfstate"
MAX_LENGTH = 255
# The platform's own unit: its state holds the dependency graph's edges.
SYSTEM_UNIT = UnitId("__opentaco_system")

_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
_PREFIX_CHAR = re.compile(r"[^A-Za-z0-9._/-]")


def parse_unit_id(raw: str) -> UnitId:
    """Validate ``raw`` as a unit ID; raise ``InvalidUnitId`` naming the broken rule."""
    if not raw:
        raise InvalidUnitId("unit ID must not be empty")
    if len(raw) > MAX_LENGTH:
        raise InvalidUnitId(f"unit ID must be at most {MAX_LENGTH} characters (got {len(raw)})")
    for segment in raw.split("/"):
        if not segment:
            raise InvalidUnitId(
                f"unit ID {raw!r} has an empty segment: segments are joined by single '/'"
            )
        if segment in (".", ".."):
            raise InvalidUnitId(f"unit ID {raw!r} must not contain a '.' or '..' segment")
        if not _SEGMENT.fullmatch(segment):
            raise InvalidUnitId(
                f"unit ID {raw!r}: segment {segment!r} may contain only letters, digits, "
                "'.', '_' and '-'"
            )
        if is_object_name(segment):
            raise InvalidUnitId(
                f"unit ID {raw!r}: segment {segment!r} is reserved: it names a unit's state "
                "or lock object in S3 storage (terraform.tfstate, terraform.tfstate.tflock, "
                "... .lock)"
            )
    body = raw[len(RESERVED_PREFIX) :] if raw.startswith(RESERVED_PREFIX) else raw
    if "__" in body:
        raise InvalidUnitId(
            f"unit ID {raw!r} must not contain '__' (reserved for the prefix {RESERVED_PREFIX!r})"
        )
    return UnitId(raw)


def check_prefix(prefix: str) -> str:
    """``prefix`` if some unit ID could start with it, else ``InvalidInput``
    naming the character no ID can hold (a NUL, a lone surrogate, a space
    ...), which no store could be asked about sensibly."""
    if len(prefix) > MAX_LENGTH:
        raise InvalidInput(f"prefix must be at most {MAX_LENGTH} characters (got {len(prefix)})")
    bad = _PREFIX_CHAR.search(prefix)
    if bad is not None:
        raise InvalidInput(
            f"prefix {prefix!r} contains {bad.group()!r}, which no unit ID can: IDs hold only "
            "letters, digits, '.', '_', '-' and '/'"
        )
    return prefix


def is_object_name(segment: str) -> bool:
    """True for a segment named like a unit's state or lock object (reserved)."""
    if segment in (STATE_OBJECT, ".lock", ".tflock"):
        return True
    return segment.startswith(STATE_OBJECT) and segment.endswith((".lock", ".tflock"))


def is_reserved(unit_id: str) -> bool:
    """True for platform-owned units (``__opentaco_*``)."""
    return unit_id.startswith(RESERVED_PREFIX)


def parse_user_unit_id(raw: str) -> UnitId:
    """Validate an ID a user asks to create: reserved IDs are refused."""
    unit_id = parse_unit_id(raw)
    if is_reserved(unit_id):
        raise ReservedUnitId(
            f"unit ID {raw!r} uses the reserved prefix {RESERVED_PREFIX!r}; "
            "those units belong to the platform"
        )
    return unit_id


def decode_path_id(raw: str) -> UnitId:
    """Decode an ID taken from a ``/v1/units/{id}`` path, then validate it.

    ``/`` may arrive raw, percent-encoded (already decoded by the caller) or as
    ``__``. A leading ``__opentaco_`` is the reserved prefix, not an encoded
    slash, and is kept as it is.
    """
    if raw.startswith(RESERVED_PREFIX):
        decoded = RESERVED_PREFIX + raw[len(RESERVED_PREFIX) :].replace("__", "/")
    else:
        decoded = raw.replace("__", "/")
    return parse_unit_id(decoded)


def encode_path_id(unit_id: str) -> str:
    """The reference tools' encoding of an ID for a single path segment."""
    if unit_id.startswith(RESERVED_PREFIX):
        return RESERVED_PREFIX + unit_id[len(RESERVED_PREFIX) :].replace("/", "__")
    return unit_id.replace("/", "__")
