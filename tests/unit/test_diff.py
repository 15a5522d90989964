"""State diffs by resource address and output, with sensitive values masked."""

from __future__ import annotations

from typing import Any

from taco_core.diff import MASK, diff_states


def state(serial: int, resources: list[dict[str, Any]], outputs: dict[str, Any]) -> dict[str, Any]:
    return {"version": 4, "serial": serial, "lineage": "L", "resources": resources,
            "outputs": outputs}  # fmt: skip


def res(type_: str, name: str, instances: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {"mode": "managed", "type": type_, "name": name, "instances": instances, **kw}


def test_added_removed_changed_resources_by_full_address() -> None:
    """Instances are compared by module, mode, type, name and index key."""
    before = state(1, [
        res("null_resource", "a", [{"attributes": {"id": "1"}}]),
        res("null_resource", "gone", [{"attributes": {"id": "2"}}]),
        res("aws_s3_bucket", "b", [{"index_key": "x", "attributes": {"acl": "private", "id": "b"}}],
            module="module.store"),
    ], {})  # fmt: skip
    after = state(2, [
        res("null_resource", "a", [{"attributes": {"id": "1"}}]),
        res("aws_s3_bucket", "b", [{"index_key": "x", "attributes": {"acl": "public", "id": "b"}}],
            module="module.store"),
        res("null_resource", "new", [{"index_key": 0, "attributes": {}}]),
        res("http", "d", [{"attributes": {}}], mode="data"),
    ], {})  # fmt: skip
    d = diff_states(before, after)
    assert d.resources_added == ("data.http.d", "null_resource.new[0]")
    assert d.resources_removed == ("null_resource.gone",)
    assert [(c.address, c.changed_attributes) for c in d.resources_changed] == [
        ('module.store.aws_s3_bucket.b["x"]', ("acl",))
    ]
    assert (d.from_serial, d.to_serial) == (1, 2)
    assert not d.empty


def test_outputs_with_sensitive_masked() -> None:
    """Output changes show values, except sensitive ones which are masked."""
    before = state(1, [], {
        "kept": {"value": "same"}, "old": {"value": 1},
        "pw": {"value": "hunter2", "sensitive": True}, "v": {"value": "a"},
    })  # fmt: skip
    after = state(2, [], {
        "kept": {"value": "same"}, "new": {"value": [1, 2]},
        "pw": {"value": "hunter3", "sensitive": True}, "v": {"value": "b"},
    })  # fmt: skip
    d = diff_states(before, after)
    assert [(o.name, o.after) for o in d.outputs_added] == [("new", [1, 2])]
    assert [(o.name, o.before) for o in d.outputs_removed] == [("old", 1)]
    changed = {o.name: o for o in d.outputs_changed}
    assert set(changed) == {"pw", "v"}
    assert (changed["pw"].before, changed["pw"].after) == (MASK, MASK)
    assert changed["pw"].sensitive
    assert (changed["v"].before, changed["v"].after) == ("a", "b")


def test_identical_states_are_empty() -> None:
    """No differences give an empty diff."""
    doc = state(1, [res("null_resource", "a", [{"attributes": {"id": "1"}}])], {"o": {"value": 1}})
    assert diff_states(doc, doc).empty


def test_against_nothing_everything_is_added() -> None:
    """The first version's diff lists every resource and output as added."""
    after = state(0, [res("null_resource", "a", [{"attributes": {}}])], {"o": {"value": 1}})
    d = diff_states({}, after)
    assert d.resources_added == ("null_resource.a",)
    assert [o.name for o in d.outputs_added] == ["o"]


def sensitive(*names: str) -> list[list[dict[str, str]]]:
    return [[{"type": "get_attr", "value": n}, {"type": "get_attr", "value": "x"}] for n in names]


def test_values_show_changed_attributes_and_mask_the_sensitive_ones() -> None:
    """With values, a changed resource carries its changed attributes before
    and after, masked where either version marks them sensitive."""
    before = state(1, [res("terraform_data", "a", [{
        "attributes": {"id": "1", "input": "old", "pw": "hunter2", "same": 1},
        "sensitive_attributes": sensitive("pw"),
    }])], {})  # fmt: skip
    after = state(2, [res("terraform_data", "a", [{
        "attributes": {"id": "1", "input": "new", "pw": "hunter3", "same": 1, "tag": "t"},
        "sensitive_attributes": [],
    }])], {})  # fmt: skip
    (change,) = diff_states(before, after, values=True).resources_changed
    assert change.changed_attributes == ("input", "pw", "tag")
    assert [(a.name, a.before, a.after, a.sensitive) for a in change.attributes] == [
        ("input", "old", "new", False),
        ("pw", MASK, MASK, True),
        ("tag", None, "t", False),
    ]
    (plain,) = diff_states(before, after).resources_changed
    assert plain.attributes == ()


def test_unreadable_sensitive_marks_mask_every_value() -> None:
    """An instance whose sensitive_attributes cannot be read has all its values masked."""
    before = state(1, [res("t", "a", [{"attributes": {"v": 1}, "sensitive_attributes": "?"}])], {})
    after = state(2, [res("t", "a", [{"attributes": {"v": 2}}])], {})
    (change,) = diff_states(before, after, values=True).resources_changed
    assert [(a.name, a.before, a.after) for a in change.attributes] == [("v", MASK, MASK)]
