"""Builders of graph-unit states shaped like the ones Terraform writes."""

from __future__ import annotations

import json
from typing import Any

from taco_core.digest import edge_id

PROVIDER = 'provider["registry.terraform.io/diggerhq/opentaco"]'


def dependency_attributes(source: str, output: str, target: str, **computed: Any) -> dict[str, Any]:
    """Attributes as the provider's Create leaves them, updated with ``computed``."""
    return {
        "id": edge_id(source, output, target),
        "from_unit_id": source,
        "from_output": output,
        "to_unit_id": target,
        "to_input": output,
        "in_digest": "",
        "out_digest": "",
        "status": "unknown",
        "last_in_at": None,
        "last_out_at": None,
        **computed,
    }


def instance(attributes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": 0,
        "attributes": attributes,
        "sensitive_attributes": [],
        "private": "bnVsbA==",
        **extra,
    }


def dependency_resource(name: str, *instances: Any, **extra: Any) -> dict[str, Any]:
    return {
        "mode": "managed",
        "type": "opentaco_dependency",
        "name": name,
        "provider": PROVIDER,
        "instances": list(instances),
        **extra,
    }


def edge_resource(
    name: str, source: str, output: str, target: str, **computed: Any
) -> dict[str, Any]:
    """A resource holding one edge."""
    return dependency_resource(
        name, instance(dependency_attributes(source, output, target, **computed))
    )


def graph_state(*resources: Any, serial: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "version": 4,
        "terraform_version": "1.5.7",
        "serial": serial,
        "lineage": "3f5a2a6e-0000-4000-8000-000000000000",
        "outputs": {},
        "resources": list(resources),
        "check_results": None,
        **extra,
    }


def encode(doc: Any) -> bytes:
    """As Terraform writes a state: two-space indent and a final newline."""
    return json.dumps(doc, indent=2).encode() + b"\n"


def unit_state(**outputs: Any) -> bytes:
    """A unit's state with these output values."""
    return encode(
        {
            "version": 4,
            "serial": 1,
            "lineage": "unit",
            "outputs": {k: {"value": v, "type": "string"} for k, v in outputs.items()},
            "resources": [],
        }
    )
