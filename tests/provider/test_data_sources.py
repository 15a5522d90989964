"""The data sources over a fake service: a unit, units under a prefix, outputs."""

from __future__ import annotations

import json

import msgpack
from tf.iface import ReadDataContext
from tf.utils import Diagnostics

from taco_core.digest import edge_id
from taco_core.graph import GRAPH_UNIT
from taco_core.model import LockInfo
from taco_core.unit_id import UnitId
from taco_tf_provider.data_sources import OutputsData, UnitData, UnitsData, UnitStatusData
from taco_tf_provider.provider import OpenTacoProvider
from tests.provider.conftest import errors
from tests.provider.fakes import FakeControl
from tests.unit.graph_states import edge_resource, encode, graph_state


def test_unit_data_reads_labels_and_the_lock_id(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """All of a unit's reference attributes; lock_id is the holder's ID when locked."""
    provider.portal.call(fake.create_unit, "myapp/prod", {"team": "a"})
    diags = Diagnostics()
    read = UnitData(provider).read
    found = read(ReadDataContext(diags, "opentaco_unit"), {"id": "myapp/prod"})
    assert found is not None
    assert (found["labels"], found["locked"], found["lock_id"], found["size"]) == (
        {"team": "a"},
        False,
        "",
        0,
    )
    provider.portal.call(fake.lock, UnitId("myapp/prod"), LockInfo(id="L9"))
    found = read(ReadDataContext(diags, "opentaco_unit"), {"id": "myapp/prod"})
    assert found is not None and (found["locked"], found["lock_id"]) == (True, "L9")
    assert not diags.diagnostics


def test_a_missing_unit_fails_the_data_source(provider: OpenTacoProvider) -> None:
    """Unlike the resource, a data source naming no unit is an error."""
    diags = Diagnostics()
    found = UnitData(provider).read(ReadDataContext(diags, "opentaco_unit"), {"id": "nope"})
    assert found is None
    assert errors(diags) == [('Not found: cannot read unit "nope"', "unit 'nope' not found")]


def test_units_data_lists_ids_under_a_prefix(provider: OpenTacoProvider, fake: FakeControl) -> None:
    """Sorted IDs starting with the prefix; no prefix lists all."""
    for unit_id in ("b/2", "a/1", "b/1"):
        provider.portal.call(fake.create_unit, unit_id)
    read = UnitsData(provider).read
    ctx = ReadDataContext(Diagnostics(), "opentaco_units")
    assert read(ctx, {"prefix": "b/", "ids": None}) == {"prefix": "b/", "ids": ["b/1", "b/2"]}
    assert read(ctx, {"prefix": None, "ids": None}) == {
        "prefix": None,
        "ids": ["a/1", "b/1", "b/2"],
    }


def test_outputs_split_sensitive_from_the_rest(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """values has every output; nonsensitive_values leaves out the sensitive ones."""
    doc = {
        "version": 4,
        "serial": 1,
        "lineage": "l",
        "outputs": {
            "vpc": {"value": "vpc-1", "type": "string"},
            "pw": {"value": "s3cret", "type": "string", "sensitive": True},
        },
        "resources": [],
    }
    provider.portal.call(fake.create_unit, "net/prod")
    provider.portal.call(fake.upload, UnitId("net/prod"), json.dumps(doc).encode())
    diags = Diagnostics()
    found = OutputsData(provider).read(
        ReadDataContext(diags, "opentaco_outputs"), {"unit_id": "net/prod"}
    )
    assert found is not None and not diags.diagnostics

    def decoded(value: object) -> object:
        return msgpack.unpackb(msgpack.packb(value))[1]

    assert decoded(found["values"]) == {"vpc": "vpc-1", "pw": "s3cret"}
    assert decoded(found["nonsensitive_values"]) == {"vpc": "vpc-1"}
    sensitive = {a.name: a.sensitive for a in OutputsData.get_schema().attributes}
    assert sensitive["values"] and not sensitive["nonsensitive_values"]


def test_outputs_of_a_unit_without_state_are_empty(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """A unit nobody applied yet has no outputs (not an error)."""
    provider.portal.call(fake.create_unit, "net/prod")
    diags = Diagnostics()
    found = OutputsData(provider).read(
        ReadDataContext(diags, "opentaco_outputs"), {"unit_id": "net/prod"}
    )
    assert found is not None and found["values"] == [b'["object",{}]', {}]
    assert not diags.diagnostics


def test_refused_outputs_name_the_action(provider: OpenTacoProvider, fake: FakeControl) -> None:
    """403 on the download: the diagnostic says which unit's outputs were refused
    and which permission it lacks."""
    provider.portal.call(fake.create_unit, "net/prod")
    fake.access.deny("unit.read", "net/prod")
    diags = Diagnostics()
    OutputsData(provider).read(ReadDataContext(diags, "opentaco_outputs"), {"unit_id": "net/prod"})
    [(summary, _)] = errors(diags)
    assert summary == (
        'Permission denied: cannot read the outputs of unit "net/prod" '
        '(needs unit.read on "net/prod")'
    )


def test_outputs_work_with_an_outputs_only_token(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """A caller allowed only unit.read_outputs gets the non-sensitive outputs
    (the service withholds the rest of the state, sensitive outputs included)."""
    doc = {
        "version": 4,
        "serial": 1,
        "lineage": "l",
        "outputs": {
            "vpc": {"value": "vpc-1", "type": "string"},
            "pw": {"value": "s3cret", "type": "string", "sensitive": True},
        },
        "resources": [{"mode": "managed", "type": "x", "name": "y", "instances": []}],
    }
    provider.portal.call(fake.create_unit, "net/prod")
    provider.portal.call(fake.upload, UnitId("net/prod"), json.dumps(doc).encode())
    fake.access.outputs_only("net/prod")
    diags = Diagnostics()
    found = OutputsData(provider).read(
        ReadDataContext(diags, "opentaco_outputs"), {"unit_id": "net/prod"}
    )
    assert not diags.diagnostics and found is not None
    assert msgpack.unpackb(msgpack.packb(found["values"]))[1] == {"vpc": "vpc-1"}
    assert msgpack.unpackb(msgpack.packb(found["nonsensitive_values"]))[1] == {"vpc": "vpc-1"}


def write(
    provider: OpenTacoProvider, fake: FakeControl, unit: str, serial: int, **out: str
) -> None:
    """Commit ``unit``'s state number ``serial`` with these string outputs, a
    little later than the last write (the graph orders writes by time)."""
    fake.clock.advance(2)
    provider.portal.call(
        lambda: fake.upload(
            UnitId(unit),
            unit_state_bytes(serial, out),
            create_missing=True,
        )
    )


def unit_state_bytes(serial: int, outputs: dict[str, str]) -> bytes:
    doc = {
        "version": 4,
        "serial": serial,
        "lineage": "l",
        "outputs": {k: {"value": v, "type": "string"} for k, v in outputs.items()},
        "resources": [],
    }
    return json.dumps(doc).encode()


def test_unit_status_is_red_after_its_source_changes(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """net -> app: once net's output changes, app is red, its incoming edge
    pending with its digests, and net is the offender; net itself is green."""
    write(provider, fake, "net", 1, vpc="v1")
    write(provider, fake, "app", 1)
    graph = graph_state(edge_resource("e", "net", "vpc", "app"))
    fake.clock.advance(2)
    provider.portal.call(lambda: fake.upload(GRAPH_UNIT, encode(graph), create_missing=True))
    write(provider, fake, "net", 2, vpc="v2")
    read = UnitStatusData(provider).read
    diags = Diagnostics()
    found = read(ReadDataContext(diags, "opentaco_unit_status"), {"unit_id": "app"})
    assert not diags.diagnostics and found is not None
    incoming = msgpack.unpackb(msgpack.packb(found.pop("incoming")))
    assert found == {
        "unit_id": "app",
        "status": "red",
        "offender": "net",
        "incoming_ok": 0,
        "incoming_pending": 1,
        "incoming_unknown": 0,
    }
    [edge] = incoming[1]
    assert (edge["edge_id"], edge["from_unit_id"], edge["from_output"], edge["status"]) == (
        edge_id("net", "vpc", "app"),
        "net",
        "vpc",
        "pending",
    )
    assert edge["in_digest"] and edge["in_digest"] != edge["out_digest"]
    source = read(ReadDataContext(diags, "opentaco_unit_status"), {"unit_id": "net"})
    assert source is not None and (source["status"], source["offender"]) == ("green", None)
    assert msgpack.unpackb(msgpack.packb(source["incoming"]))[1] == []


def test_unit_status_of_an_unknown_unit_fails_the_data_source(provider: OpenTacoProvider) -> None:
    """No such unit and no edge naming it: an error diagnostic, no state."""
    diags = Diagnostics()
    found = UnitStatusData(provider).read(
        ReadDataContext(diags, "opentaco_unit_status"), {"unit_id": "nope"}
    )
    assert found is None
    [(summary, _)] = errors(diags)
    assert summary == 'Not found: cannot read the status of unit "nope"'
