"""What changed between two Terraform states, by resource address and output.

Terraform has no server-side diff; users of other state backends get one only
in a web UI, if at all. This compares the parsed documents: resource instances
by their full address (``module.a.aws_s3_bucket.b["k"]``), attributes by name,
and outputs by name. Sensitive values never leave as plain text: by default
a changed resource reports the *names* of its changed attributes, never their
values, and the values of sensitive outputs are masked.

Asked for ``values`` (the web UI's visual diff, shown only to callers who may
read the whole state anyway), each changed resource also carries its changed
top-level attributes with their values before and after, except those
Terraform marks sensitive (the instance's ``sensitive_attributes``), which
are masked like sensitive outputs. An instance whose ``sensitive_attributes``
cannot be read has every value masked: guessing which ones are safe is not
an option.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import frozen

MASK = "(sensitive)"


@frozen
class AttributeChange:
    """One top-level attribute of a resource instance that differs: its
    value before and after (``None`` where it is absent or null), or
    ``MASK`` for both when Terraform marks it sensitive in either version."""

    name: str
    before: Any
    after: Any
    sensitive: bool = False


@frozen
class ResourceChange:
    """A resource instance present in both versions, with different content.
    ``attributes`` is filled only for a diff asked for with ``values``."""

    address: str
    changed_attributes: tuple[str, ...]
    attributes: tuple[AttributeChange, ...] = ()


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


def _sensitive_names(instance: Mapping[str, Any]) -> frozenset[str] | None:
    """The top-level attributes Terraform marks sensitive in an instance
    (each path in ``sensitive_attributes`` starts with a ``get_attr`` step
    naming one); ``None`` when the field is there but unreadable."""
    paths = instance.get("sensitive_attributes")
    if paths is None:
        return frozenset()
    if not isinstance(paths, list):
        return None
    names: set[str] = set()
    for path in paths:
        first = path[0] if isinstance(path, list) and path else None
        if not (
            isinstance(first, Mapping)
            and first.get("type") == "get_attr"
            and isinstance(first.get("value"), str)
        ):
            return None
        names.add(first["value"])
    return frozenset(names)


def attribute_changes(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[AttributeChange, ...]:
    """The changed top-level attributes of one instance in two versions,
    sorted by name, with values masked where either version marks them
    sensitive (all of them when either marking cannot be read)."""
    a = before.get("attributes") or {}
    b = after.get("attributes") or {}
    if not isinstance(a, Mapping) or not isinstance(b, Mapping):
        return (AttributeChange("attributes", MASK, MASK, True),) if a != b else ()
    old, new = _sensitive_names(before), _sensitive_names(after)
    everything = old is None or new is None
    secret = frozenset() if everything else (old or frozenset()) | (new or frozenset())
    changes = []
    for name in _changed_attributes(before, after):
        if everything or name in secret:
            changes.append(AttributeChange(name, MASK, MASK, True))
        else:
            changes.append(AttributeChange(name, a.get(name), b.get(name)))
    return tuple(changes)


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
    values: bool = False,
) -> StateDiff:
    """Compare two parsed states (``before`` may be ``{}`` for "nothing");
    with ``values``, changed resources carry their attribute changes (see
    the module docstring)."""
    old, new = instances(before), instances(after)
    changed = tuple(
        ResourceChange(
            addr,
            _changed_attributes(old[addr], new[addr]),
            attribute_changes(old[addr], new[addr]) if values else (),
        )
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
