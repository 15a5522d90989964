"""How the core's units look as Terraform attribute values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tf.schema import Attribute
from tf.types import Bool, Number, String

from taco_core.model import Unit

# The reference provider's format: second precision, UTC, a literal Z.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime(TIME_FORMAT)


def labels_value(unit: Unit, known: Mapping[str, str] | None) -> dict[str, str] | None:
    """The unit's labels as the ``labels`` attribute: null when the unit has none
    and the configuration set none (so an omitted argument shows no change)."""
    if not unit.labels and known is None:
        return None
    return dict(unit.labels)


def unit_attributes(unit: Unit) -> dict[str, Any]:
    """The computed attributes the resource and the data source share."""
    return {"size": unit.size, "updated": timestamp(unit.updated), "locked": unit.locked}


def unit_schema() -> list[Attribute]:
    """The schema of ``unit_attributes``."""
    return [
        Attribute(
            "size", Number(), description="Size of the current state in bytes.", computed=True
        ),
        Attribute(
            "updated",
            String(),
            description="When the current state was written (UTC, `2006-01-02T15:04:05Z`).",
            computed=True,
        ),
        Attribute("locked", Bool(), description="Whether the unit is locked.", computed=True),
    ]
