"""What a person looks at first on a unit's page: its outputs and its
resources grouped by module and type.

Read from the parsed state, leniently (a hand-edited or unusual state shows
what can be read, never an error): outputs sorted by name, the values of
sensitive ones replaced by ``MASK`` so a page never carries them; resources
grouped by module (the root module, ``""``, first) and then by type, each
with its instances' index keys. Nothing here decides who may see what: a
caller allowed only outputs is given the outputs-only state
(``taco_core.redaction``), whose summary has no resources.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from taco_core.diff import MASK


@frozen
class OutputView:
    """One output: its value (``MASK`` when sensitive) and Terraform's type."""

    name: str
    value: Any
    type: Any
    sensitive: bool


@frozen
class ResourceView:
    """One resource block: its address without an index, and the index of
    each instance (``""`` for a resource without ``count``/``for_each``)."""

    address: str
    mode: str
    name: str
    provider: str
    instances: tuple[str, ...]


@frozen
class ResourceGroup:
    """The resources of one type in one module (``""``: the root module)."""

    module: str
    type: str
    resources: tuple[ResourceView, ...]


@frozen
class StateSummary:
    """A state as its page shows it."""

    terraform_version: str
    serial: int | None
    lineage: str | None
    outputs: tuple[OutputView, ...]
    groups: tuple[ResourceGroup, ...]

    @property
    def resource_count(self) -> int:
        return sum(len(g.resources) for g in self.groups)

    @property
    def instance_count(self) -> int:
        return sum(len(r.instances) for g in self.groups for r in g.resources)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _index(instance: Any) -> str:
    if not isinstance(instance, Mapping) or instance.get("index_key") is None:
        return ""
    return f"[{json.dumps(instance['index_key'])}]"


def _outputs(doc: Mapping[str, Any]) -> tuple[OutputView, ...]:
    outputs = doc.get("outputs")
    if not isinstance(outputs, Mapping):
        return ()
    found = []
    for name in sorted(outputs):
        output = outputs[name]
        if not isinstance(output, Mapping):
            continue
        # Anything but an explicit false counts as sensitive: never guess a
        # value is safe to show.
        sensitive = output.get("sensitive", False) is not False
        found.append(
            OutputView(
                name=str(name),
                value=MASK if sensitive else output.get("value"),
                type=output.get("type"),
                sensitive=sensitive,
            )
        )
    return tuple(found)


def _groups(doc: Mapping[str, Any]) -> tuple[ResourceGroup, ...]:
    resources = doc.get("resources")
    grouped: dict[tuple[str, str], list[ResourceView]] = {}
    for res in resources if isinstance(resources, list) else ():
        if not isinstance(res, Mapping):
            continue
        module, type_, name = (
            _text(res.get("module")),
            _text(res.get("type")),
            _text(res.get("name")),
        )
        mode = "data" if res.get("mode") == "data" else "managed"
        prefix = f"{module}." if module else ""
        data = "data." if mode == "data" else ""
        instances = res.get("instances")
        indexes = tuple(_index(i) for i in instances) if isinstance(instances, list) else ()
        grouped.setdefault((module, type_), []).append(
            ResourceView(
                address=f"{prefix}{data}{type_ or '?'}.{name or '?'}",
                mode=mode,
                name=name,
                provider=_text(res.get("provider")),
                instances=indexes,
            )
        )
    return tuple(
        ResourceGroup(module, type_, tuple(sorted(found, key=lambda r: r.address)))
        for (module, type_), found in sorted(grouped.items())
    )


def summarise_state(doc: Mapping[str, Any]) -> StateSummary:
    """The summary of a parsed state (``{}`` for a unit without one)."""
    serial = doc.get("serial")
    lineage = doc.get("lineage")
    return StateSummary(
        terraform_version=_text(doc.get("terraform_version")),
        serial=serial if isinstance(serial, int) and not isinstance(serial, bool) else None,
        lineage=lineage if isinstance(lineage, str) else None,
        outputs=_outputs(doc),
        groups=_groups(doc),
    )
