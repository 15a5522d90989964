"""Diffs on the wire: what changed between two versions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import frozen

from taco_core.diff import OutputChange, ResourceChange, StateDiff


@frozen
class ResourceChangeDoc:
    """A changed resource and the names of its changed attributes."""

    address: str
    changed_attributes: list[str]


@frozen
class ResourceChangesDoc:
    added: list[str]
    removed: list[str]
    changed: list[ResourceChangeDoc]


@frozen
class OutputChangeDoc:
    """An output's values before and after (``"(sensitive)"`` when sensitive)."""

    name: str
    before: Any
    after: Any
    sensitive: bool


@frozen
class OutputChangesDoc:
    added: list[OutputChangeDoc]
    removed: list[OutputChangeDoc]
    changed: list[OutputChangeDoc]


@frozen
class DiffDoc:
    """What changed between two versions of a unit (``diff_json`` and its ID)."""

    unit_id: str
    from_version: int | None
    to_version: int
    from_serial: int | None
    to_serial: int | None
    resources: ResourceChangesDoc
    outputs: OutputChangesDoc
    empty: bool


def _output_json(o: OutputChange) -> dict[str, Any]:
    return {"name": o.name, "before": o.before, "after": o.after, "sensitive": o.sensitive}


def _output_of(o: Mapping[str, Any]) -> OutputChange:
    return OutputChange(o["name"], o["before"], o["after"], bool(o["sensitive"]))


def diff_json(d: StateDiff) -> dict[str, Any]:
    """Resources by address, outputs with their values (sensitive ones
    already masked by ``taco_core.diff``)."""
    return {
        "from_version": d.from_version,
        "to_version": d.to_version,
        "from_serial": d.from_serial,
        "to_serial": d.to_serial,
        "resources": {
            "added": list(d.resources_added),
            "removed": list(d.resources_removed),
            "changed": [
                {"address": c.address, "changed_attributes": list(c.changed_attributes)}
                for c in d.resources_changed
            ],
        },
        "outputs": {
            "added": [_output_json(o) for o in d.outputs_added],
            "removed": [_output_json(o) for o in d.outputs_removed],
            "changed": [_output_json(o) for o in d.outputs_changed],
        },
        "empty": d.empty,
    }


def diff_from_json(doc: Mapping[str, Any]) -> StateDiff:
    """The core's ``StateDiff`` from ``diff_json``'s shape."""
    resources, outputs = doc["resources"], doc["outputs"]
    return StateDiff(
        from_version=doc["from_version"],
        to_version=doc["to_version"],
        from_serial=doc["from_serial"],
        to_serial=doc["to_serial"],
        resources_added=tuple(resources["added"]),
        resources_removed=tuple(resources["removed"]),
        resources_changed=tuple(
            ResourceChange(c["address"], tuple(c["changed_attributes"]))
            for c in resources["changed"]
        ),
        outputs_added=tuple(_output_of(o) for o in outputs["added"]),
        outputs_removed=tuple(_output_of(o) for o in outputs["removed"]),
        outputs_changed=tuple(_output_of(o) for o in outputs["changed"]),
    )
