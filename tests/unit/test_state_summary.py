"""A unit page's summary of a state: outputs masked, resources grouped."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from taco_core.diff import MASK
from taco_core.state_summary import summarise_state


def test_resources_are_grouped_by_module_then_type_root_first() -> None:
    """Groups come root module first, then by module and type; instances keep their keys."""
    doc = {
        "serial": 3,
        "lineage": "L",
        "terraform_version": "1.15.5",
        "resources": [
            {"module": "module.m", "mode": "managed", "type": "terraform_data", "name": "b",
             "instances": [{"index_key": 0}, {"index_key": 1}]},
            {"mode": "data", "type": "http", "name": "d", "instances": [{}]},
            {"mode": "managed", "type": "aws_s3_bucket", "name": "x",
             "instances": [{"index_key": "k"}]},
            "not a resource",
        ],
    }  # fmt: skip
    summary = summarise_state(doc)
    assert [(g.module, g.type) for g in summary.groups] == [
        ("", "aws_s3_bucket"),
        ("", "http"),
        ("module.m", "terraform_data"),
    ]
    assert summary.groups[0].resources[0].instances == ('["k"]',)
    assert summary.groups[1].resources[0].address == "data.http.d"
    assert summary.groups[2].resources[0].address == "module.m.terraform_data.b"
    assert summary.groups[2].resources[0].instances == ("[0]", "[1]")
    assert (summary.resource_count, summary.instance_count) == (3, 4)
    assert (summary.serial, summary.lineage, summary.terraform_version) == (3, "L", "1.15.5")


def test_sensitive_outputs_are_masked() -> None:
    """Sensitive outputs (anything but an explicit false) show the mask, never the value."""
    doc = {
        "outputs": {
            "b": {"value": "plain", "type": "string"},
            "a": {"value": "hunter2", "type": "string", "sensitive": True},
            "c": {"value": "odd", "sensitive": "yes"},
        }
    }
    outputs = summarise_state(doc).outputs
    assert [(o.name, o.value, o.sensitive) for o in outputs] == [
        ("a", MASK, True),
        ("b", "plain", False),
        ("c", MASK, True),
    ]


def test_no_state_summarises_to_nothing() -> None:
    """A unit without a state has an empty summary."""
    summary = summarise_state({})
    assert (summary.outputs, summary.groups, summary.serial) == ((), (), None)


SECRET = "s3cr3t-value"
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.just(SECRET)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)


@given(st.dictionaries(st.text(max_size=4), values, max_size=5))
def test_no_sensitive_value_reaches_the_summary(raw: dict[str, Any]) -> None:
    """Whatever the sensitive outputs hold, none of it appears in the summary."""
    doc = {"outputs": {name: {"value": v, "sensitive": True} for name, v in raw.items()}}
    shown = json.dumps([o.value for o in summarise_state(doc).outputs])
    assert SECRET not in shown
