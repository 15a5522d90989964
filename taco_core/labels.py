"""Changing a unit's labels: the one rule every store applies atomically."""

from __future__ import annotations

from collections.abc import Mapping


def apply_label_changes(
    labels: Mapping[str, str], changes: Mapping[str, str | None]
) -> dict[str, str]:
    """``labels`` with each key of ``changes`` set to its value, or removed
    when the value is ``None``; keys not in ``changes`` are kept."""
    updated = dict(labels)
    for key, value in changes.items():
        if value is None:
            updated.pop(key, None)
        else:
            updated[key] = value
    return updated
