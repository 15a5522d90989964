"""The data sources over a fake service: a unit, units under a prefix, outputs."""

from __future__ import annotations

import json

import msgpack
from tf.iface import ReadDataContext
from tf.utils import Diagnostics

from taco_core.model import LockInfo
from taco_core.unit_id import UnitId
from taco_tf_provider.data_sources import OutputsData, UnitData, UnitsData
from taco_tf_provider.provider import OpenTacoProvider
from tests.provider.conftest import errors
from tests.provider.fakes import FakeControl


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
