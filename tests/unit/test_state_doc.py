"""Reading facts out of state payloads without keeping their object tree."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taco_core.errors import InvalidState
from taco_core.state_doc import MAX_NESTING, WINDOW, facts_of, load_object, read_facts

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


def _nested(depth: int) -> bytes:
    """A state whose deepest value sits ``depth`` arrays and objects deep,
    objects and arrays taking turns (the outermost object counts)."""
    inner = "1"
    for level in range(depth - 1, 0, -1):
        inner = f'{{"k": {inner}}}' if level % 2 else f"[{inner}]"
    return f'{{"serial": 1, "v": {inner}}}'.encode()


@pytest.mark.parametrize("depth", [1, 2, 3, 50, MAX_NESTING])
def test_nesting_up_to_the_limit_is_accepted(depth: int) -> None:
    """States nested up to MAX_NESTING levels, arrays and objects alike, are states."""
    assert read_facts(_nested(depth)).serial == 1


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, MAX_NESTING + 2, 900, 5000])
def test_nesting_beyond_the_limit_is_refused_naming_it(depth: int) -> None:
    """Deeper states are InvalidState naming the limit, however deep (never RecursionError)."""
    with pytest.raises(InvalidState, match=f"{MAX_NESTING} levels"):
        read_facts(_nested(depth))
    arrays = depth - 1  # inside the outermost object
    with pytest.raises(InvalidState, match=f"{MAX_NESTING} levels"):
        read_facts(b'{"a": ' + b"[" * arrays + b"]" * arrays + b"}")


def test_a_full_parse_of_a_deep_document_is_invalid_state() -> None:
    """load_object (diff, restore) turns Python's recursion limit into InvalidState too."""
    with pytest.raises(InvalidState, match="levels"):
        load_object(b'{"a":' * 5000 + b"1" + b"}" * 5000)


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


deep_values = st.recursive(
    st.integers(0, 9),
    lambda children: (
        st.lists(children, max_size=2)
        | st.dictionaries(st.sampled_from(["a", "b"]), children, max_size=2)
    ),
    max_leaves=40,
)


@given(deep_values, st.integers(1, 300))
def test_the_measured_depth_is_the_documents(value: object, wrap: int) -> None:
    """Property: read_facts refuses exactly the states nested deeper than
    MAX_NESTING, counting arrays and objects alike, however they mix."""
    doc = {"serial": 1, "v": value}
    for i in range(wrap):
        doc = {"serial": 1, "v": [doc]} if i % 2 else {"serial": 1, "v": doc}
    data = json.dumps(doc).encode()
    if _depth(doc) <= MAX_NESTING:
        assert read_facts(data) == facts_of(load_object(data), data)
    else:
        with pytest.raises(InvalidState, match="levels"):
            read_facts(data)


def test_integers_longer_than_python_reads_are_invalid_state() -> None:
    """An integer of thousands of digits is InvalidState naming the digit limit."""
    with pytest.raises(InvalidState, match="4300 digits"):
        read_facts(b'{"serial": 1, "x": ' + b"7" * 5000 + b"}")


@pytest.mark.parametrize("serial", [2**63, 10**30])
def test_serials_beyond_64_bits_are_invalid_state(serial: int) -> None:
    """A serial no store can keep (SQLite INTEGER) is refused naming the field."""
    with pytest.raises(InvalidState, match="'serial' must be at most"):
        read_facts(json.dumps({"serial": serial}).encode())
    assert read_facts(json.dumps({"serial": 2**63 - 1}).encode()).serial == 2**63 - 1


def test_a_lineage_with_a_lone_surrogate_is_invalid_state() -> None:
    """JSON can spell text no store can encode; such a lineage is refused."""
    with pytest.raises(InvalidState, match="'lineage'"):
        read_facts(b'{"serial": 1, "lineage": "a\\ud800"}')


@pytest.mark.parametrize("window", [8, WINDOW])
@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("serial", {"a": 1}, "got a JSON object"),
        ("serial", [1, 2], "got a JSON array"),
        ("serial", True, "got true"),
        ("serial", -(10**80), "got -1000000000"),
        ("lineage", {"a": [1]}, "got a JSON object"),
        ("lineage", 7, "got 7"),
    ],
)
def test_a_mistyped_field_is_named_by_its_json_kind(
    field: str, value: object, named: str, window: int
) -> None:
    """The message says what the field holds in JSON terms, short, whatever
    stand-in the parse kept for it (never a Python object's repr)."""
    data = json.dumps({"version": 4, field: value, "resources": []}).encode()
    with pytest.raises(InvalidState) as caught:
        read_facts(data, window=window)
    assert f"state field '{field}' must be" in caught.value.message
    assert named in caught.value.message
    assert "object at 0x" not in caught.value.message and len(caught.value.message) < 140
