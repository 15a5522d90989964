"""What changed between two Terraform states, by resource address and output.

Terraform has no server-side diff; users of other state backends get one only
in a web UI, if at all. This compares the parsed documents: resource instances
by their full address (``module.a.aws_s3_bucket.b["k"]``), attributes by name,
and outputs by name. Sensitive values never leave as plain text: a changed
resource reports the *names* of its changed attributes, never their values,
and the values of sensitive outputs are masked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import frozen

MASK = "(sensitive)"


@frozen
class ResourceChange:
    address: str
    changed_attributes: tuple[str, ...]


@frozen
class OutputChange:
    name: str
    before: Any
    after: Any
    sensitive: bool


@frozen
class StateDiff:
    from_version: int | None
    to_version: int | None
    from_serial: int | None
    to_serial: int | None
    resources_added: tuple[str, ...]
    resources_removed: tuple[str, ...]
    resources_changed: tuple[ResourceChange, ...]
    outputs_added: tuple[OutputChange, ...]
    outputs_removed: tuple[OutputChange, ...]
    outputs_changed: tuple[OutputChange, ...]

    @property
    def empty(self) -> bool:
        return not (
            self.resources_added
            or self.resources_removed
            or self.resources_changed
            or self.outputs_added
            or self.outputs_removed
            or self.outputs_changed
        )


def _index(key: Any) -> str:
    if key is None:
        return ""
    return f"[{json.dumps(key)}]"


def instances(doc: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Resource instances of a state document, keyed by full address."""
    found: dict[str, Mapping[str, Any]] = {}
    resources = doc.get("resources")
    if not isinstance(resources, list):
        return found
    for res in resources:
        if not isinstance(res, Mapping):
            continue
        prefix = f"{res['module']}." if res.get("module") else ""
        mode = "data." if res.get("mode") == "data" else ""
        base = f"{prefix}{mode}{res.get('type', '?')}.{res.get('name', '?')}"
        for inst in res.get("instances") or [{}]:
            if isinstance(inst, Mapping):
                found[base + _index(inst.get("index_key"))] = inst
    return found


def _changed_attributes(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    a = before.get("attributes") or {}
    b = after.get("attributes") or {}
    if not isinstance(a, Mapping) or not isinstance(b, Mapping):
        return ("attributes",) if a != b else ()
    return tuple(sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)))


def _outputs(doc: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    outputs = doc.get("outputs")
    if not isinstance(outputs, Mapping):
        return {}
    return {k: v for k, v in outputs.items() if isinstance(v, Mapping)}


def _shown(output: Mapping[str, Any] | None) -> Any:
    if output is None:
        return None
    return MASK if output.get("sensitive") else output.get("value")


def _sorted(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(names))


def diff_states(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    from_version: int | None = None,
    to_version: int | None = None,
) -> StateDiff:
    """Compare two parsed states (``before`` may be ``{}`` for "nothing")."""
    old, new = instances(before), instances(after)
    changed = tuple(
        ResourceChange(addr, _changed_attributes(old[addr], new[addr]))
        for addr in _sorted(set(old) & set(new))
        if old[addr] != new[addr]
    )
    o_old, o_new = _outputs(before), _outputs(after)

    def change(name: str) -> OutputChange:
        a, b = o_old.get(name), o_new.get(name)
        sensitive = bool((a or {}).get("sensitive") or (b or {}).get("sensitive"))
        return OutputChange(name, _shown(a), _shown(b), sensitive)

    def serial(doc: Mapping[str, Any]) -> int | None:
        value = doc.get("serial")
        return value if isinstance(value, int) else None

    return StateDiff(
        from_version=from_version,
        to_version=to_version,
        from_serial=serial(before),
        to_serial=serial(after),
        resources_added=_sorted(set(new) - set(old)),
        resources_removed=_sorted(set(old) - set(new)),
        resources_changed=changed,
        outputs_added=tuple(change(n) for n in _sorted(set(o_new) - set(o_old))),
        outputs_removed=tuple(change(n) for n in _sorted(set(o_old) - set(o_new))),
        outputs_changed=tuple(
            change(n)
            for n in _sorted(set(o_old) & set(o_new))
            if o_old[n].get("value") != o_new[n].get("value")
            or o_old[n].get("sensitive") != o_new[n].get("sensitive")
        ),
    )
