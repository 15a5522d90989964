"""Outputs-only reads: the redacted state keeps identity and plain outputs, nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taco_core.errors import InvalidState
from taco_core.redaction import redact_to_outputs
from taco_core.state_doc import read_facts

STATE: dict[str, Any] = {
    "version": 4,
    "terraform_version": "1.15.5",
    "serial": 7,
    "lineage": "3f1c",
    "outputs": {
        "vpc_id": {"value": "vpc-123", "type": "string"},
        "db_password": {"value": "hunter2", "type": "string", "sensitive": True},
        "subnets": {"value": ["a", "b"], "type": ["list", "string"], "sensitive": False},
    },
    "resources": [
        {
            "mode": "managed",
            "type": "aws_db_instance",
            "name": "db",
            "instances": [{"attributes": {"password": "hunter2"}, "sensitive_attributes": []}],
        }
    ],
    "check_results": [{"object_kind": "resource", "status": "pass"}],
}


def test_redacted_state_shape() -> None:
    """Identity fields and plain outputs are kept; sensitive outputs, resources and the rest go."""
    out = json.loads(redact_to_outputs(json.dumps(STATE).encode()))
    assert out == {
        "version": 4,
        "terraform_version": "1.15.5",
        "serial": 7,
        "lineage": "3f1c",
        "outputs": {
            "vpc_id": {"value": "vpc-123", "type": "string"},
            "subnets": {"value": ["a", "b"], "type": ["list", "string"], "sensitive": False},
        },
        "resources": [],
    }


def test_redacted_state_has_the_same_facts() -> None:
    """Terraform sees the same serial and lineage as a full reader would."""
    data = json.dumps(STATE).encode()
    before, after = read_facts(data), read_facts(redact_to_outputs(data))
    assert (after.serial, after.lineage) == (before.serial, before.lineage)


def test_missing_or_malformed_outputs_are_dropped() -> None:
    """No outputs, or outputs that are not objects with a value, leave an empty outputs map."""
    cases: list[Any] = [
        None,
        [],
        {"a": "x", "b": {"type": "string"}, "c": {"value": 1, "sensitive": 1}},
    ]
    for outputs in cases:
        doc = {"version": 4, "serial": 1, "lineage": "L", "outputs": outputs}
        assert json.loads(redact_to_outputs(json.dumps(doc).encode()))["outputs"] == {}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"version": 3, "serial": 1}, "format version 3"),
        ({"serial": 1}, "format version None"),
        ({"version": True}, "format version True"),
    ],
)
def test_other_state_formats_are_refused(doc: dict[str, Any], message: str) -> None:
    """Only format 4 is redacted; anything else is refused rather than guessed at."""
    with pytest.raises(InvalidState, match=message):
        redact_to_outputs(json.dumps(doc).encode())


def test_not_json_is_invalid_state() -> None:
    """Bytes that are not a JSON object are InvalidState, as for uploads."""
    with pytest.raises(InvalidState):
        redact_to_outputs(b"[1]")


SECRET = "SECRET-"
sensitivity = st.sampled_from([True, False, "true", 1, None, "absent"])
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet="xyz", max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("ab", max_size=2), inner),
    max_leaves=6,
)


@given(
    outputs=st.dictionaries(
        st.text(alphabet="abcdef", min_size=1, max_size=4), st.tuples(sensitivity, values)
    ),
    resources=st.lists(values, max_size=3),
    extra=st.dictionaries(st.sampled_from(["check_results", "module", "future"]), values),
)
def test_redaction_never_leaks(
    outputs: dict[str, tuple[Any, Any]], resources: list[Any], extra: dict[str, Any]
) -> None:
    """Sensitive outputs (marked by anything but absent or false) never appear, no resource
    or other field survives, and every plain output is kept unchanged."""
    doc_outputs = {}
    for index, (name, (flag, value)) in enumerate(outputs.items()):
        secret = flag not in (False, "absent")
        entry = {"value": [f"{SECRET}{index}", value] if secret else value, "type": "dynamic"}
        if flag != "absent":
            entry["sensitive"] = flag
        doc_outputs[name] = entry
    doc = {
        **extra,
        "version": 4,
        "terraform_version": "1.0.3",
        "serial": 3,
        "lineage": "L",
        "outputs": doc_outputs,
        "resources": [{"secret": f"{SECRET}r", "attrs": r} for r in resources],
    }
    text = redact_to_outputs(json.dumps(doc).encode())
    assert SECRET.encode() not in text
    out = json.loads(text)
    assert set(out) == {"version", "terraform_version", "serial", "lineage", "outputs", "resources"}
    assert out["resources"] == []
    plain = {n: e for n, e in doc_outputs.items() if e.get("sensitive", False) is False}
    assert out["outputs"] == plain
