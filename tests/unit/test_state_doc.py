"""Reading facts out of state payloads without keeping their object tree."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from taco_core.state_doc import facts_of, load_object, read_facts

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["serial", "lineage", "a", "b"]), children, max_size=3)
    ),
    max_leaves=12,
)


@given(
    serial=st.integers(0, 10**9),
    lineage=st.text(min_size=1, max_size=8),
    rest=st.dictionaries(st.sampled_from(["outputs", "resources", "x"]), json_values, max_size=3),
)
def test_streaming_facts_equal_full_parse(
    serial: int, lineage: str, rest: dict[str, object]
) -> None:
    """The low-memory parse reads the same top-level serial and lineage as a full parse,
    whatever nested objects (with their own 'serial' keys) surround them."""
    data = json.dumps({**rest, "serial": serial, "lineage": lineage}).encode()
    assert read_facts(data) == facts_of(load_object(data), data)
    assert read_facts(data).serial == serial
