"""Hypothesis state machine: unit writes and edge changes against a simple model.

The system under test is the whole pure pipeline on real bytes: the graph
unit's state is parsed, the rules applied, the state rewritten, and colours
read from a ``GraphIndex`` of the result. Edges are added, removed and
re-pointed the way Terraform does it (the provider's create and update
semantics, serial + 1), each followed by the service's seeding step.

The model keeps output *values*, not digests, and no timestamps, bytes or
indexes: per edge the value its source last showed (``seen``) and the value
its target last consumed (``consumed``), from which statuses and colours follow
by the definitions. While the graph unit is locked, unit writes queue up and
are applied in one batch at unlock; the model applies every write at once, so
the invariants also prove that no queued write is lost or reordered.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from taco_core.digest import edge_id, value_digest
from taco_core.graph import read_graph
from taco_core.graph_rewrite import update_graph_state
from taco_core.graph_rules import UNREADABLE, GraphWrite, UnitOutputs, UnitWrite, units_to_seed
from taco_core.graph_status import Colour, GraphIndex
from tests.unit.graph_states import dependency_attributes, encode, graph_state, instance

UNITS = ["a", "b", "c", "d"]
OUTPUTS = ["o1", "o2"]
VALUES = ["v1", "v2", 1, [1, "x"], None]
NONE = object()  # no value seen / consumed

units = st.sampled_from(UNITS)
written_outputs = st.one_of(
    st.dictionaries(st.sampled_from(OUTPUTS), st.sampled_from(VALUES)),
    st.just(None),  # unreadable outputs
)


@attrs.define
class ModelEdge:
    source: str
    output: str
    target: str
    seen: Any = NONE
    consumed: Any = NONE
    status: str = "unknown"

    @property
    def id(self) -> str:
        return edge_id(self.source, self.output, self.target)


class GraphMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.data = encode(graph_state(serial=1, x_keep={"n": 1.0}))
        self.clock = datetime(2025, 1, 1, tzinfo=UTC)
        self.states: dict[str, dict[str, Any] | None] = {}  # unit -> outputs (None: unreadable)
        self.edges: list[ModelEdge] = []
        self.locked = False
        self.queued: list[UnitWrite] = []

    # -- helpers -------------------------------------------------------------

    def tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    def outputs_of(self, unit: str) -> UnitOutputs:
        values = self.states[unit]
        return UNREADABLE if values is None else UnitOutputs(values)

    def source_value(self, edge: ModelEdge) -> Any:
        values = self.states.get(edge.source)
        return NONE if values is None or edge.output not in values else values[edge.output]

    def model_seed(self, edge: ModelEdge) -> None:
        value = self.source_value(edge)
        if value is NONE:
            edge.seen, edge.consumed, edge.status = NONE, NONE, "unknown"
        elif edge.target in self.states:
            edge.seen, edge.consumed, edge.status = value, value, "ok"
        else:
            edge.seen, edge.consumed, edge.status = value, NONE, "pending"

    def terraform_writes_graph(self, instances: list[dict[str, Any]]) -> None:
        """Terraform applies the graph unit (the new instance list, serial + 1)
        and releases its lock; the service then applies the queued writes and
        seeds the fresh edges from the current unit states, in one rewrite."""
        doc = json.loads(self.data)
        before = read_graph(self.data)
        assert before is not None
        known = {e.id for e in before.edges}
        doc["resources"] = [
            {"mode": "managed", "type": "opentaco_dependency", "name": f"e{i}",
             "provider": "p", "instances": [inst]}
            for i, inst in enumerate(instances)
        ]  # fmt: skip
        doc["serial"] += 1
        self.data = encode(doc)
        graph = read_graph(self.data)
        assert graph is not None
        needed = units_to_seed(graph.edges, known)
        states = {u: self.outputs_of(u) for u in needed if u in self.states}
        queued, self.queued = self.queued, []
        after = update_graph_state(self.data, queued, GraphWrite(states, known, self.tick()))
        if after is not None:
            assert json.loads(after)["serial"] == doc["serial"] + 1
            self.data = after

        def fresh(edge: ModelEdge) -> bool:
            return edge.id not in known or (edge.seen is NONE and edge.consumed is NONE)

        # A second declaration of a known edge is that edge, not a new one.
        settled: dict[str, ModelEdge] = {}
        for edge in self.edges:
            if not fresh(edge):
                settled.setdefault(edge.id, edge)
        for edge in self.edges:
            if fresh(edge):
                twin = settled.get(edge.id)
                if twin is None:
                    self.model_seed(edge)
                else:
                    edge.seen, edge.consumed, edge.status = twin.seen, twin.consumed, twin.status

    def current_instances(self) -> list[dict[str, Any]]:
        doc = json.loads(self.data)
        return [r["instances"][0] for r in doc["resources"]]

    def flush(self) -> None:
        if self.locked or not self.queued:
            return
        serial = json.loads(self.data)["serial"]
        after = update_graph_state(self.data, self.queued)
        self.queued = []
        if after is not None:
            assert json.loads(after)["serial"] == serial + 1
            self.data = after

    # -- rules ---------------------------------------------------------------

    @rule(unit=units, values=written_outputs, s3_key=st.booleans())
    def write_unit(self, unit: str, values: dict[str, Any] | None, s3_key: bool) -> None:
        """A unit's state is committed (queued while the graph unit is locked)."""
        self.states[unit] = values
        written_as = f"{unit}/terraform.tfstate" if s3_key else unit
        self.queued.append(UnitWrite(written_as, self.outputs_of(unit), self.tick()))
        self.flush()
        for edge in self.edges:
            if edge.source == unit:
                value = self.source_value(edge)
                if value is NONE:
                    edge.status = "unknown"
                else:
                    edge.seen = value
                    same = edge.consumed is not NONE and edge.consumed == value
                    edge.status = "ok" if same else "pending"
            if edge.target == unit and edge.seen is not NONE:
                edge.consumed = edge.seen
                edge.status = "ok"

    @precondition(lambda self: not self.locked)
    @rule()
    def lock_graph(self) -> None:
        """Someone starts applying the graph unit (the service cannot write it)."""
        self.locked = True

    @precondition(lambda self: self.locked)
    @rule()
    def unlock_graph(self) -> None:
        """The apply ends without changes; the queued writes are applied."""
        self.locked = False
        self.flush()

    @precondition(lambda self: len(self.edges) < 6)
    @rule(source=units, output=st.sampled_from(OUTPUTS), to=units)
    def add_edge(self, source: str, output: str, to: str) -> None:
        """Terraform creates an edge (releasing the lock if it held it)."""
        self.locked = False
        self.edges.append(ModelEdge(source, output, to))
        created = instance(dependency_attributes(source, output, to))
        self.terraform_writes_graph([*self.current_instances(), created])

    @precondition(lambda self: self.edges)
    @rule(data=st.data())
    def remove_edge(self, data: st.DataObject) -> None:
        """Terraform destroys an edge."""
        self.locked = False
        index = data.draw(st.integers(0, len(self.edges) - 1))
        del self.edges[index]
        remaining = self.current_instances()
        del remaining[index]
        self.terraform_writes_graph(remaining)

    @precondition(lambda self: self.edges)
    @rule(data=st.data(), output=st.sampled_from(OUTPUTS))
    def repoint_edge(self, data: st.DataObject, output: str) -> None:
        """Terraform updates an edge in place to another output: the provider
        recomputes the ID and carries the computed attributes over."""
        self.locked = False
        index = data.draw(st.integers(0, len(self.edges) - 1))
        edge = self.edges[index]
        edge.output = output
        instances = self.current_instances()
        attributes = instances[index]["attributes"]
        attributes.update(
            from_output=output,
            to_input=output,
            id=edge_id(edge.source, output, edge.target),
        )
        self.terraform_writes_graph(instances)

    # -- invariants ----------------------------------------------------------

    @precondition(lambda self: not self.queued)
    @invariant()
    def edges_match_the_model(self) -> None:
        graph = read_graph(self.data)
        assert graph is not None
        assert len(graph.edges) == len(self.edges)
        for got, want in zip(graph.edges, self.edges, strict=True):
            assert got.status == want.status
            assert got.in_digest == ("" if want.seen is NONE else value_digest(want.seen))
            assert got.out_digest == ("" if want.consumed is NONE else value_digest(want.consumed))

    @precondition(lambda self: not self.queued)
    @invariant()
    def colours_match_the_model(self) -> None:
        index = GraphIndex.from_graph(read_graph(self.data))
        red = {e.target for e in self.edges if e.status == "pending"}
        reached: set[str] = set()
        frontier = set(red)
        while frontier:
            frontier = {e.target for e in self.edges if e.source in frontier} - reached
            reached |= frontier
        for unit in UNITS:
            want = Colour.RED if unit in red else Colour.YELLOW if unit in reached else Colour.GREEN
            assert index.colour(unit) is want

    @invariant()
    def other_fields_are_kept(self) -> None:
        doc = json.loads(self.data)
        assert doc["lineage"] == graph_state()["lineage"]
        assert doc["x_keep"] == {"n": 1.0}
        assert b'"n": 1.0' in self.data


GraphMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
test_graph_machine = GraphMachine.TestCase


def test_a_second_declaration_of_an_edge_is_that_edge() -> None:
    """Declaring a dependency again (a second resource, the same edge ID) while a
    write to its source waits behind the graph's lock: the copy is the edge the
    service knows, pending like it, not seeded as if its target were up to date."""
    machine = GraphMachine()
    machine.write_unit(unit="a", values={}, s3_key=False)
    machine.add_edge(source="b", output="o2", to="a")
    machine.lock_graph()
    machine.write_unit(unit="b", values={"o2": "v1"}, s3_key=False)
    machine.add_edge(source="b", output="o2", to="a")
    machine.edges_match_the_model()
    machine.colours_match_the_model()
    assert [e.status for e in machine.edges] == ["pending", "pending"]


def test_a_second_declaration_of_a_stale_edge_is_stale_too() -> None:
    """A copy of an edge whose target has not consumed the source's new value is
    pending like the edge, not seeded as up to date."""
    machine = GraphMachine()
    machine.write_unit(unit="a", values={}, s3_key=False)
    machine.write_unit(unit="b", values={"o1": "v1"}, s3_key=False)
    machine.add_edge(source="b", output="o1", to="a")
    machine.write_unit(unit="b", values={"o1": "v2"}, s3_key=False)
    machine.add_edge(source="b", output="o1", to="a")
    machine.edges_match_the_model()
    machine.colours_match_the_model()
    assert [e.status for e in machine.edges] == ["pending", "pending"]
