"""A unit's outputs, read from its state and encoded as Terraform values.

Outputs have any type (a string, a list of objects ...), so the data source
returns them as one *dynamic* value: an object with an attribute per output,
whose type is built from the types Terraform recorded in the state. On the
plugin protocol a dynamic value travels as a msgpack pair ``[type as JSON,
value]`` (go-cty's wire format), which is what ``dynamic_object`` returns.

Sensitive outputs stay out of ``nonsensitive``; the schema marks the attribute
holding all of them sensitive, because the protocol cannot mark single values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from taco_core.errors import InvalidState
from taco_core.model import Payload
from taco_core.state_doc import load_object

CtyType = str | list[Any]
"""A type in go-cty's JSON form: ``"string"``, ``["list", "number"]``, ``["object", {...}]``."""

# msgpack integers are 64-bit; go-cty reads a number sent as a string as well.
_INT64 = range(-(2**63), 2**63)


@frozen
class Output:
    """One output of a state: its value, its type and whether it is sensitive."""

    value: Any
    type: CtyType
    sensitive: bool


def read_outputs(data: Payload | None) -> dict[str, Output]:
    """The outputs of a state (none for a unit without state), by name.

    ``InvalidState`` when the bytes are not a state; an output without a recorded
    type (a hand-written state) gets the type its JSON value implies.
    """
    if data is None:
        return {}
    doc = load_object(data)
    outputs = doc.get("outputs")
    if outputs is None:
        return {}
    if not isinstance(outputs, Mapping):
        raise InvalidState("state field 'outputs' must be an object")
    found: dict[str, Output] = {}
    for name, entry in outputs.items():
        if not isinstance(entry, Mapping) or "value" not in entry:
            raise InvalidState(f"state output {name!r} has no value")
        value = entry["value"]
        recorded = entry.get("type")
        kind = recorded if isinstance(recorded, str | list) else implied_type(value)
        found[str(name)] = Output(value, kind, bool(entry.get("sensitive", False)))
    return found


def implied_type(value: Any) -> CtyType:
    """The type Terraform gives a JSON value it knows nothing else about."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return ["tuple", [implied_type(v) for v in value]]
    if isinstance(value, Mapping):
        return ["object", {str(k): implied_type(v) for k, v in value.items()}]
    return "dynamic"


def dynamic_object(outputs: Mapping[str, Output]) -> list[Any]:
    """``outputs`` as one dynamic object value on the wire: ``[type JSON, value]``."""
    kind: CtyType = ["object", {name: o.type for name, o in outputs.items()}]
    value: dict[str, Any] = {}
    for name, output in outputs.items():
        try:
            value[name] = encode(output.type, output.value)
        except (TypeError, ValueError, AttributeError, KeyError, IndexError):
            raise InvalidState(
                f"state output {name!r} does not match its recorded type {json.dumps(output.type)}"
            ) from None
    return [json.dumps(kind, separators=(",", ":")).encode(), value]


def dynamic(kind: CtyType, value: Any) -> list[Any]:
    """``value`` of type ``kind`` as a dynamic value on the wire: ``[type JSON, value]``."""
    return [json.dumps(kind, separators=(",", ":")).encode(), encode(kind, value)]


def encode(kind: CtyType, value: Any) -> Any:
    """``value`` of type ``kind`` in go-cty's msgpack shape (msgpack-ready Python)."""
    if value is None:
        return None
    if kind == "dynamic":
        implied = implied_type(value)
        return [json.dumps(implied, separators=(",", ":")).encode(), encode(implied, value)]
    if kind == "number":
        if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
            return str(value)
        return value
    if isinstance(kind, str):
        return value  # string, bool
    container, inner = kind[0], kind[1]
    if container in ("list", "set"):
        return [encode(inner, v) for v in value]
    if container == "map":
        return {str(k): encode(inner, v) for k, v in value.items()}
    if container == "tuple":
        return [encode(t, v) for t, v in zip(inner, value, strict=True)]
    if container == "object":
        return {str(k): encode(inner[k], v) for k, v in value.items() if k in inner}
    raise InvalidState(f"unknown type {json.dumps(kind)} in state outputs")
