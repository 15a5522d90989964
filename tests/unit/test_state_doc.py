"""Reading facts out of state payloads without keeping their object tree."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taco_core.errors import InvalidState
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


def _outcome(data: bytes, window: int) -> object:
    try:
        return read_facts(data, window=window)
    except InvalidState:
        return "invalid"


def _reference(data: bytes) -> object:
    """What ``json.loads`` of the whole text says."""
    try:
        return facts_of(load_object(data), data)
    except InvalidState:
        return "invalid"


scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
)
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["serial", "lineage", "outputs", "résumé", "a\\nb"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@given(
    doc=documents,
    indent=st.sampled_from([None, 0, 2]),
    window=st.integers(1, 40),
    cut=st.integers(0, 400),
    junk=st.sampled_from(["", "x", ",", "]", "}", '"', "\\u00e9", " 1", "\\x00", "tru"]),
)
def test_the_windowed_parse_accepts_exactly_what_the_whole_parse_does(
    doc: object, indent: int | None, window: int, cut: int, junk: str
) -> None:
    """Through a window of a few bytes or of the whole, a state is valid
    exactly when ``json.loads`` finds a JSON object, with the same facts;
    damaged texts (cut short, with junk spliced in) are refused by both."""
    text = json.dumps(doc, indent=indent, ensure_ascii=False)
    for candidate in (text, text[:cut] + junk + text[cut:], text[: cut % (len(text) + 1)]):
        data = candidate.encode()
        if not data.strip():
            continue
        whole = _reference(data)
        assert _outcome(data, window=window) == whole
        assert _outcome(data, window=len(data) + 1) == whole


def test_a_large_state_parses_through_its_window() -> None:
    """A state much larger than the window gives the same facts as a whole parse."""
    resources = [{"type": "t", "attrs": {"id": f"x{k}", "n": k * 1.5}} for k in range(3000)]
    data = json.dumps({"serial": 7, "lineage": "L", "resources": resources}, indent=2).encode()
    assert read_facts(data, window=1000) == read_facts(data) == facts_of(load_object(data), data)
    with pytest.raises(InvalidState, match="not valid JSON"):
        read_facts(data[:-3], window=1000)
    with pytest.raises(InvalidState, match="not UTF-8"):
        read_facts(data[:5000] + b"\xff" + data[5000:], window=1000)
    with pytest.raises(InvalidState, match="JSON array"):
        read_facts(json.dumps(resources).encode(), window=1000)
