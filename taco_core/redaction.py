"""Outputs-only reads: a Terraform state cut down to its non-sensitive outputs.

A caller allowed ``unit.read_outputs`` but not ``unit.read`` gets this
instead of the stored state. It is itself a valid state (format version 4,
what every Terraform since 0.12 writes and reads, 1.0.3 and 1.15.5 included),
so ``terraform_remote_state`` and ``terraform state pull`` accept it, while it
holds no resource, no sensitive output and nothing else from the original:

- ``version``, ``terraform_version``, ``serial`` and ``lineage`` are copied,
  so Terraform sees the same snapshot identity as a full reader;
- each output keeps only ``value`` and ``type`` (and a false ``sensitive``);
  an output whose ``sensitive`` is anything but absent or ``false`` is left
  out entirely, as is anything that is not a well-formed output;
- ``resources`` is empty, and every other field (``check_results`` and
  whatever later formats add) is left out, so nothing new leaks by default.

This is the one place the service re-serialises a state: the redacted state
is a new document, never stored.
"""

from __future__ import annotations

import json
from typing import Any

from taco_core.errors import InvalidState
from taco_core.model import Payload
from taco_core.state_doc import load_object

STATE_FORMAT_VERSION = 4

_COPIED = ("terraform_version", "serial", "lineage")
_OUTPUT_FIELDS = ("value", "type", "sensitive")


def _is_shareable(output: Any) -> bool:
    return (
        isinstance(output, dict) and "value" in output and output.get("sensitive", False) is False
    )


def redact_to_outputs(data: Payload) -> bytes:
    """The outputs-only form of a stored state (see the module docstring).

    ``InvalidState`` if ``data`` is not a JSON object or not a format-4
    state: older formats nest outputs differently, and Terraform has
    rewritten them as format 4 since 0.12, so refusing loses nothing and
    never guesses where secrets are.
    """
    doc = load_object(data)
    version = doc.get("version")
    if version != STATE_FORMAT_VERSION or isinstance(version, bool):
        raise InvalidState(
            f"cannot serve outputs only: the state has format version {version!r}, "
            f"and only format {STATE_FORMAT_VERSION} (Terraform 0.12 and later) is supported"
        )
    outputs = doc.get("outputs")
    kept: dict[str, Any] = {}
    if isinstance(outputs, dict):
        for name, output in outputs.items():
            if _is_shareable(output):
                kept[name] = {k: output[k] for k in _OUTPUT_FIELDS if k in output}
    redacted: dict[str, Any] = {"version": STATE_FORMAT_VERSION}
    redacted.update({k: doc[k] for k in _COPIED if k in doc})
    redacted["outputs"] = kept
    redacted["resources"] = []
    return (json.dumps(redacted, indent=2) + "\n").encode()
