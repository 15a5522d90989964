"""LockInfo on the wire, in the two spellings that exist.

Terraform's own capitalised ``LockInfo`` (``ID``, ``Who`` ...) is what the
HTTP backend answers (Terraform parses it to print the holder) and what a
``.tflock`` object in S3 holds (Terraform's s3 backend reads ours, we read
its). The reference's lowercase shape (``id``, ``who`` ...) is the management
API's, the CLI's ``--json`` and the SQLite column's. Both parse case
insensitively, so either spelling is accepted wherever a lock arrives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from cattrs.gen import make_dict_unstructure_fn, override

from taco_adapters.wire.converter import check_text, converter
from taco_core.errors import InvalidInput
from taco_core.model import LockInfo

# Every field Terraform's LockInfo has, in its order; the model mirrors it.
LOCK_FIELDS: tuple[str, ...] = tuple(a.name for a in attrs.fields(LockInfo))

# Terraform spells the ID "ID" and every other field capitalised.
TERRAFORM_LOCK_NAMES = {name: "ID" if name == "id" else name.capitalize() for name in LOCK_FIELDS}
_terraform = make_dict_unstructure_fn(
    LockInfo,
    converter,
    **{name: override(rename=key) for name, key in TERRAFORM_LOCK_NAMES.items()},  # type: ignore[arg-type]
)


def lock_json(lock: LockInfo) -> dict[str, str]:
    """The lowercase shape: every field, by its name (``owner`` only when set)."""
    doc: dict[str, str] = converter.unstructure(lock)
    return _without_empty_owner(doc, "owner")


def terraform_lock_json(lock: LockInfo, *, with_owner: bool = False) -> dict[str, str]:
    """Terraform's capitalised shape (``ID``, ``Operation``, ``Who`` ...),
    exactly Terraform's fields; ``with_owner`` adds our ``Owner`` when set
    (for storing a lock where Terraform reads it too: it ignores the field)."""
    doc: dict[str, str] = _terraform(lock)
    if not with_owner:
        doc.pop("Owner", None)
    return _without_empty_owner(doc, "Owner")


def _without_empty_owner(doc: dict[str, str], key: str) -> dict[str, str]:
    if not doc.get(key):
        doc.pop(key, None)
    return doc


def _lowered(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in doc.items()}


def lock_from_json(doc: Mapping[str, Any]) -> LockInfo:
    """A lock a caller asks for, in either spelling; ``InvalidInput`` when a
    field is not a string. Absent and null fields stay empty (an empty ID
    is a request for a fresh one); ``owner`` is the server's to set, so a
    caller's is ignored."""
    lowered = _lowered(doc)
    values: dict[str, str] = {"id": ""}  # no ID: the service picks one
    for name in LOCK_FIELDS:
        if name == "owner":
            continue
        value = lowered.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"lock field {name!r} must be a string, got {value!r}")
        try:
            values[name] = check_text(value)
        except ValueError as exc:
            raise InvalidInput(f"lock field {name!r}: {exc}") from None
    return LockInfo(**values)


def held_lock_from_json(doc: Mapping[str, Any]) -> LockInfo:
    """A lock someone holds, as a server or a bucket reports it, read
    leniently: either spelling, values made text, absent or null fields
    empty. A holder is shown rather than refused, whoever wrote it."""
    lowered = _lowered(doc)
    return LockInfo(
        **{"id": "", **{n: str(lowered[n]) for n in LOCK_FIELDS if lowered.get(n) is not None}}
    )
