"""On every store: the graph service's rewrites of the graph unit keep every
field of the state and of each instance, raise the serial, keep the lineage,
and go through the normal commit (history, clobber guard)."""

from __future__ import annotations

import itertools
import json
from typing import Any

from taco_adapters.clock import ManualClock
from taco_core.events import StateCommitted
from taco_core.graph import COMPUTED_ATTRIBUTES, GRAPH_UNIT
from taco_core.graph_service import Outcome
from taco_core.ports import StateStore
from tests.unit.graph_states import dependency_attributes, dependency_resource, instance
from tests.unit.graph_world import TERRAFORM, World

# A state as Terraform 1.15 writes it, with everything a rewrite could lose:
# check_results, module and for_each resources, instance metadata, another
# provider's resources, unknown fields, and number spellings a float would change.
GRAPH_TEXT = """{
  "version": 4,
  "terraform_version": "1.15.5",
  "serial": 7,
  "lineage": "7d1c-keep",
  "outputs": {"big": {"value": 12345678901234567890, "type": "number"},
              "pi": {"value": 3.14159265358979323846264, "type": "number"}},
  "resources": RESOURCES,
  "check_results": [{"object_kind": "resource", "config_addr": "x", "status": "pass"}],
  "x_unknown_top": {"nested": [1.0, 2e3, -0.0]}
}
"""


def resources() -> list[dict[str, Any]]:
    ab = instance(
        dependency_attributes("a", "out", "b"),
        index_key="a-b",
        dependencies=["opentaco_unit.a"],
        x_instance_extra=True,
    )
    bc = instance(dependency_attributes("b", "out", "c"), index_key=0)
    other = {
        "mode": "managed",
        "type": "null_resource",
        "name": "n",
        "provider": 'provider["registry.terraform.io/hashicorp/null"]',
        "instances": [{"schema_version": 0, "attributes": {"id": "1.50"}, "private": "e30="}],
    }
    return [
        dependency_resource("ab", ab, module="module.deps", each="map"),
        dependency_resource("bc", bc, each="list"),
        other,
    ]


def without_service_fields(doc: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    doc.pop("serial")
    for resource in doc["resources"]:
        for inst in resource["instances"]:
            for name in COMPUTED_ATTRIBUTES:
                inst["attributes"].pop(name, None)
    return doc


async def test_a_rewrite_keeps_every_field(store: StateStore) -> None:
    """Seeding, a write, a second write: each version the service commits
    differs from the one before only in the computed attributes and the serial
    (+1), keeps the lineage and number spellings, and is a normal version in
    the history, written by the system."""
    world = World(store, ManualClock())
    text = GRAPH_TEXT.replace("RESOURCES", json.dumps(resources(), indent=2))
    await world.write("a", out="1")
    await world.write("b", out="1")
    await world.write("c", out="1")
    await world.states.upload(TERRAFORM, GRAPH_UNIT, text.encode(), create_missing=True)
    assert await world.graph.flush() is Outcome.DONE
    await world.write("a", out="2")
    assert await world.graph.flush() is Outcome.DONE
    await world.write("b", out="2")
    assert await world.graph.flush() is Outcome.DONE
    versions = sorted(await store.list_versions(GRAPH_UNIT), key=lambda v: v.number)
    assert [v.surface for v in versions] == ["backend", "system", "system", "system"]
    assert not any(v.quarantined for v in versions)
    bodies = [(await store.read_version(GRAPH_UNIT, v.number))[1] for v in versions]
    docs = [json.loads(b) for b in bodies]
    for before, after in itertools.pairwise(docs):
        assert after["serial"] == before["serial"] + 1
        assert without_service_fields(after) == without_service_fields(before)
    for body in bodies:
        for spelling in (b"12345678901234567890", b"3.14159265358979323846264", b"2e3", b"-0.0"):
            assert spelling in body
        assert b'"lineage": "7d1c-keep"' in body
    statuses = [
        [inst["attributes"]["status"] for r in d["resources"][:2] for inst in r["instances"]]
        for d in docs
    ]
    assert statuses == [["unknown", "unknown"], ["ok", "ok"], ["pending", "ok"], ["ok", "pending"]]
    commits = [e for e in world.recorder.graph_commits() if e.caller.is_system]
    assert [e.version.number for e in commits] == [v.number for v in versions[1:]]
    assert all(isinstance(e, StateCommitted) for e in commits)
