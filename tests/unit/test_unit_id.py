"""Unit-ID rules and path decoding."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from taco_core.errors import InvalidInput, InvalidUnitId, ReservedUnitId
from taco_core.unit_id import (
    check_prefix,
    decode_path_id,
    encode_path_id,
    parse_unit_id,
    parse_user_unit_id,
)


@pytest.mark.parametrize(
    "good", ["myapp/prod", "a", "a.b-c_d/E9", "__opentaco_system", "x/" * 100 + "y", "a/.b/c.."]
)
def test_valid_ids_are_accepted(good: str) -> None:
    """IDs made of [A-Za-z0-9._-] segments joined by single slashes are valid."""
    assert parse_unit_id(good) == good


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        ("", "empty"),
        ("/a", "empty segment"),
        ("a/", "empty segment"),
        ("a//b", "empty segment"),
        ("a/../b", "'..'"),
        ("./a", "'.'"),
        ("a b", "letters, digits"),
        ("a/ü", "letters, digits"),
        ("a__b", "'__'"),
        ("__foo", "'__'"),
        ("x" * 256, "at most 255"),
    ],
)
def test_invalid_ids_name_the_rule(bad: str, rule: str) -> None:
    """Every broken rule is refused with a message naming that rule."""
    with pytest.raises(InvalidUnitId, match=rule):
        parse_unit_id(bad)


def test_reserved_prefix_is_refused_for_users_only() -> None:
    """Users cannot create __opentaco_ units; the platform can address them."""
    assert parse_unit_id("__opentaco_system") == "__opentaco_system"
    with pytest.raises(ReservedUnitId, match="reserved"):
        parse_user_unit_id("__opentaco_system")


@pytest.mark.parametrize(
    ("path", "unit_id"),
    [
        ("myapp__prod", "myapp/prod"),
        ("myapp/prod", "myapp/prod"),
        ("__opentaco_system", "__opentaco_system"),
        ("__opentaco_system__x", "__opentaco_system/x"),
        ("a__b__c", "a/b/c"),
    ],
)
def test_path_decoding_keeps_reserved_prefix(path: str, unit_id: str) -> None:
    """__ decodes to / except in the leading reserved prefix (the Go reference mangles it)."""
    assert decode_path_id(path) == unit_id


segment = st.from_regex(r"[A-Za-z0-9.-][A-Za-z0-9._-]{0,8}", fullmatch=True).filter(
    lambda s: s not in (".", "..") and "__" not in s and not s.endswith("_")
)


@given(st.lists(segment, min_size=1, max_size=6), st.booleans())
def test_encode_then_decode_round_trips(segments: list[str], reserved: bool) -> None:
    """Every valid ID survives the reference's __ path encoding."""
    raw = "/".join(segments)
    if reserved:
        raw = "__opentaco_" + raw.lstrip("_")
    assume(len(raw) <= 255 and "__" not in raw[len("__opentaco_") if reserved else 0 :])
    unit_id = parse_unit_id(raw)
    assert decode_path_id(encode_path_id(unit_id)) == unit_id


@pytest.mark.parametrize("prefix", ["", "myapp/", "a.b-c_d/e", "__opentaco_"])
def test_prefixes_an_id_could_start_with_are_accepted(prefix: str) -> None:
    """Any prefix of a possible unit ID is a valid listing prefix."""
    assert check_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["a\x00", "\ud800", "my app", "é", "a%2F", "x" * 256])
def test_prefixes_no_id_could_start_with_are_refused(prefix: str) -> None:
    """A NUL, a lone surrogate or any character no ID holds is InvalidInput naming it."""
    with pytest.raises(InvalidInput, match="prefix"):
        check_prefix(prefix)


@pytest.mark.parametrize(
    "bad",
    [
        "a/terraform.tfstate",
        "a/terraform.tfstate.tflock",
        "a/terraform.tfstate.lock",
        "a/.lock",
        "a/.tflock",
        "a/terraform.tfstate.old.lock",
        "terraform.tfstate/b",
        "a/terraform.tfstate/b",
    ],
)
def test_segments_named_like_s3_objects_are_reserved(bad: str) -> None:
    """A segment named like a unit's state or lock object in S3 is refused, anywhere
    in the ID: its folder would take the place of another unit's object."""
    with pytest.raises(InvalidUnitId, match="reserved"):
        parse_unit_id(bad)


@pytest.mark.parametrize(
    "good", ["a/terraform.tfstate.backup", "a/tfstate", "a/prod.lock", "a/terraform", "a/x.tflock"]
)
def test_names_near_the_reserved_ones_stay_valid(good: str) -> None:
    """Only the object names themselves are reserved."""
    assert parse_unit_id(good) == good
