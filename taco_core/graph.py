"""The dependency graph: edges kept as resources in the system unit's state.

Each edge is an ``opentaco_dependency`` resource instance in the ordinary
Terraform state of ``__opentaco_system``, so users manage edges with plain
Terraform (the provider's resource) and the service edits only the computed
attributes (``taco_core.graph_rules``, ``taco_core.graph_rewrite``).

Reading is lenient, as the graph is written by hand-made configurations: every
managed ``opentaco_dependency`` instance is an edge wherever it sits (modules,
``count``, ``for_each``); an instance whose attributes are not an object, or
whose source or target is blank, is skipped, never an error. A deposed
instance (the old object of a ``create_before_destroy`` replacement, about to
be destroyed) is not an edge: the new instance is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from attrs import frozen

from taco_core.canonical_json import go_string, has_surrogate_escape, replace_lone_surrogates
from taco_core.model import Payload
from taco_core.unit_id import SYSTEM_UNIT, UnitId

GRAPH_UNIT: UnitId = SYSTEM_UNIT
DEPENDENCY_TYPE = "opentaco_dependency"

# The attributes the service computes; everything else belongs to the user.
COMPUTED_ATTRIBUTES = ("in_digest", "out_digest", "status", "last_in_at", "last_out_at")
# Every attribute of an edge, in the order of ``Edge``'s fields.
_ATTRIBUTES = ("id", "from_unit_id", "from_output", "to_unit_id", "to_input", *COMPUTED_ATTRIBUTES)

# Go's unicode.IsSpace set, which the reference trims (Python's str.strip()
# would also trim U+001C..U+001F).
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_STATE_FILE_SUFFIX = "/terraform.tfstate"


class EdgeStatus(StrEnum):
    """What the service writes in an edge's ``status``.

    ``pending``: the source's output changed since the target last consumed it.
    ``unknown``: the source has no such output (or its outputs are unreadable).
    A status written by hand may be anything else; it counts as ``unknown``.
    """

    OK = "ok"
    PENDING = "pending"
    UNKNOWN = "unknown"


def normalize_edge_unit_id(raw: str) -> str:
    """A unit ID as an edge names it, made comparable with unit IDs: spaces and
    ``/`` trimmed at both ends, then one trailing ``/terraform.tfstate`` dropped
    (so an S3-style key names its unit)."""
    return raw.strip(_GO_SPACE).strip("/").removesuffix(_STATE_FILE_SUFFIX)


@frozen
class Edge:
    """One ``opentaco_dependency`` instance, with the reference's attributes.

    ``from_unit_id`` and ``to_unit_id`` are normalised; the other attributes
    are the state's values as text, with ``null`` (a fresh edge's timestamps)
    read as ``""``.
    """

    id: str
    from_unit_id: str
    from_output: str
    to_unit_id: str
    to_input: str
    in_digest: str = ""
    out_digest: str = ""
    status: str = ""
    last_in_at: str = ""
    last_out_at: str = ""


@frozen
class InstanceAddress:
    """Where an edge lives in the state: ``resources[resource].instances[instance]``."""

    resource: int
    instance: int


@frozen
class Graph:
    """The edges of one version of the graph unit's state, and where each lives.

    ``addresses[i]`` locates ``edges[i]``, so a rewrite can change that
    instance and nothing else. ``serial`` is the state's (0 when absent).
    """

    serial: int
    edges: tuple[Edge, ...]
    addresses: tuple[InstanceAddress, ...]

    def with_changes(self, changes: Mapping[int, Edge]) -> Graph:
        """The graph of the bytes ``rewrite_graph_state`` makes of these
        changes, without parsing them: a rewrite moves no instance and raises
        the serial by one. (Only meaningful when the rewrite returned bytes.)"""
        edges = tuple(changes.get(i, edge) for i, edge in enumerate(self.edges))
        return Graph(serial=self.serial + 1, edges=edges, addresses=self.addresses)


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON value")


def edge_from_attributes(attributes: Mapping[str, Any]) -> Edge | None:
    """The edge an instance's attributes describe, or ``None`` if they name no
    source or no target."""
    # The hot loop of reading a large graph: strings (nearly every value) are
    # taken as they are without a call.
    text = [v if type(v) is str else go_string(v) for v in map(attributes.get, _ATTRIBUTES)]
    text[1] = normalize_edge_unit_id(text[1])
    text[3] = normalize_edge_unit_id(text[3])
    if not text[1] or not text[3]:
        return None
    return Edge(*text)


def graph_from_document(doc: Mapping[str, Any]) -> Graph | None:
    """The graph in a parsed state, or ``None`` if its ``serial`` is not a
    non-negative integer (no state the service accepts has such a serial)."""
    serial = doc.get("serial", 0)
    if isinstance(serial, bool) or not isinstance(serial, int) or serial < 0:
        return None
    edges: list[Edge] = []
    addresses: list[InstanceAddress] = []
    resources = doc.get("resources")
    for r, resource in enumerate(resources if isinstance(resources, list) else ()):
        if not isinstance(resource, dict) or resource.get("type") != DEPENDENCY_TYPE:
            continue
        if resource.get("mode", "managed") != "managed":
            continue
        instances = resource.get("instances")
        for i, instance in enumerate(instances if isinstance(instances, list) else ()):
            if not isinstance(instance, dict) or instance.get("deposed"):
                continue
            attributes = instance.get("attributes")
            if not isinstance(attributes, dict):
                continue
            edge = edge_from_attributes(attributes)
            if edge is not None:
                edges.append(edge)
                addresses.append(InstanceAddress(r, i))
    return Graph(serial=serial, edges=tuple(edges), addresses=tuple(addresses))


def read_graph(data: Payload) -> Graph | None:
    """The graph held in the graph unit's state bytes.

    ``None`` when there is no graph: empty bytes, or bytes that are not a JSON
    object state (the reference's "missing or corrupt graph"). A state without
    edges is an empty graph, not ``None``.
    """
    if not bytes(data).strip():
        return None
    try:
        text = bytes(data).decode("utf-8")
        doc = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    if has_surrogate_escape(text):
        doc = replace_lone_surrogates(doc)
    return graph_from_document(doc)
