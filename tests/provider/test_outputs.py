"""Outputs read from a state and encoded as one dynamic value (go-cty's msgpack form)."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from taco_core.errors import InvalidState
from taco_tf_provider.outputs import Output, dynamic_object, encode, implied_type, read_outputs


def state(outputs: dict[str, Any]) -> bytes:
    doc = {"version": 4, "serial": 1, "lineage": "l", "outputs": outputs, "resources": []}
    return json.dumps(doc).encode()


def test_outputs_keep_their_recorded_type_and_sensitivity() -> None:
    """Each output's value, the type Terraform recorded, and its sensitive flag."""
    found = read_outputs(
        state(
            {
                "vpc": {"value": "vpc-1", "type": "string"},
                "ids": {"value": ["a"], "type": ["list", "string"]},
                "pw": {"value": "s", "type": "string", "sensitive": True},
            }
        )
    )
    assert found == {
        "vpc": Output("vpc-1", "string", False),
        "ids": Output(["a"], ["list", "string"], False),
        "pw": Output("s", "string", True),
    }


def test_a_unit_without_state_has_no_outputs() -> None:
    """No state yet reads as no outputs, encoded as an empty object."""
    assert read_outputs(None) == {}
    assert dynamic_object({}) == [b'["object",{}]', {}]


def test_the_dynamic_value_is_a_type_and_value_pair() -> None:
    """[type JSON, value], as go-cty unmarshals a DynamicPseudoType from msgpack."""
    outputs = {
        "n": Output(3, "number", False),
        "cfg": Output(
            {"a": [1, 2], "b": None}, ["object", {"a": ["list", "number"], "b": "string"}], False
        ),
    }
    kind, value = msgpack.unpackb(msgpack.packb(dynamic_object(outputs)))
    assert json.loads(kind) == [
        "object",
        {"n": "number", "cfg": ["object", {"a": ["list", "number"], "b": "string"}]},
    ]
    assert value == {"n": 3, "cfg": {"a": [1, 2], "b": None}}


def test_numbers_beyond_64_bits_travel_as_strings() -> None:
    """msgpack integers are 64-bit; go-cty accepts a number as a string."""
    assert encode("number", 2**70) == str(2**70)
    assert encode("number", 2**62) == 2**62
    assert encode("number", 1.5) == 1.5


def test_untyped_outputs_get_the_type_their_value_implies() -> None:
    """A hand-written state without types still reads (tuples and objects inferred)."""
    found = read_outputs(state({"x": {"value": [1, "a", {"k": True}]}}))
    assert found["x"].type == ["tuple", ["number", "string", ["object", {"k": "bool"}]]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[]", "must be a JSON object"),
        (state({"x": {"type": "string"}}), "has no value"),
        (json.dumps({"outputs": []}).encode(), "'outputs' must be an object"),
    ],
)
def test_what_is_not_a_state_fails_with_invalid_state(data: bytes, message: str) -> None:
    """Broken states raise InvalidState saying why (a diagnostic, not a crash)."""
    with pytest.raises(InvalidState, match=message):
        read_outputs(data)


def test_a_value_that_contradicts_its_type_is_invalid_state() -> None:
    """A tuple of the wrong length is reported, naming the output."""
    outputs = {"t": Output([1], ["tuple", ["number", "number"]], False)}
    with pytest.raises(InvalidState, match="'t' does not match its recorded type"):
        dynamic_object(outputs)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12,
)


@given(json_values)
def test_any_json_output_encodes_and_packs(value: Any) -> None:
    """Whatever JSON an output holds, its implied type encodes it into packable msgpack
    with the same shape (numbers beyond 64 bits as text)."""
    packed = msgpack.packb(dynamic_object({"o": Output(value, implied_type(value), False)}))
    _, decoded = msgpack.unpackb(packed, strict_map_key=False)

    def plain(v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool) and not -(2**63) <= v < 2**63:
            return str(v)
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    assert decoded == {"o": plain(value)}
