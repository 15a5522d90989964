"""What only the server speaks: Terraform's lock shape on the backend, and
request bodies parsed and validated at the edge.

The management API's response shapes (units, locks, versions, diffs, API
tokens) are shared with the server's clients and live in
``taco_adapters.wire``. Two lock shapes exist on purpose: Terraform's own
capitalised ``LockInfo`` on the backend (Terraform parses it to print the
holder) and the reference's lowercase shape on the management API. Both parse
case-insensitively.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import cattrs
from attrs import field, frozen

from taco_adapters.wire import LOCK_FIELDS
from taco_core.errors import InvalidInput
from taco_core.model import LockInfo, Payload


def parse_json_object(body: Payload, what: str) -> dict[str, Any]:
    """Parse a request body that must be a JSON object (``{}`` when empty)."""
    if not body.strip():
        return {}
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    return doc


def lock_from_json(doc: Mapping[str, Any]) -> LockInfo:
    """A LockInfo from Terraform's or the reference's JSON (keys in any case)."""
    lowered = {str(k).lower(): v for k, v in doc.items()}
    values: dict[str, str] = {}
    for name in LOCK_FIELDS:
        value = lowered.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"lock field {name!r} must be a string, got {value!r}")
        values[name] = value
    return LockInfo(**values)


def lock_terraform(lock: LockInfo) -> dict[str, str]:
    """Terraform's own capitalised LockInfo JSON."""
    return {
        "ID": lock.id,
        "Operation": lock.operation,
        "Info": lock.info,
        "Who": lock.who,
        "Version": lock.version,
        "Created": lock.created,
        "Path": lock.path,
    }


# -- request bodies (structured with cattrs at the edge) ------------------------

_converter = cattrs.Converter(forbid_extra_keys=False)


def _strict_str(value: object, _: type) -> str:
    # cattrs would turn 5 into "5"; an ID or label that is not a string is a mistake.
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__} {value!r}")
    return value


def _strict_int(value: object, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__} {value!r}")
    return value


_converter.register_structure_hook(str, _strict_str)
_converter.register_structure_hook(int, _strict_int)


@frozen
class CreateUnitRequest:
    id: str
    labels: dict[str, str] = field(factory=dict)


@frozen
class RestoreRequest:
    version: int | None = None
    timestamp: str | None = None
    lock_id: str | None = None


def structure(doc: Mapping[str, Any], cls: type[Any], what: str) -> Any:
    """Structure a request body, turning cattrs' errors into a readable 400."""
    try:
        return _converter.structure(doc, cls)
    except Exception as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            detail = "; ".join(cattrs.transform_error(exc))
        else:
            detail = str(exc)
        raise InvalidInput(f"invalid {what}: {detail}") from None
