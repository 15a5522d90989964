"""The S3 endpoint's bucket and key mapping: which key is which unit, and back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taco_http.s3_endpoint.mapping import Buckets, ObjectKind
from taco_http.s3api.errors import InvalidArgument, InvalidBucketName

BUCKETS = Buckets("opentaco")

segment = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.-]{0,8}", fullmatch=True)
unit_ids = st.lists(segment, min_size=1, max_size=4).map("/".join)
workspace_units = st.tuples(segment, unit_ids).map(lambda t: f"_env/{t[0]}/{t[1]}")
buckets = st.sampled_from(["opentaco", "acme", "team-a"])


@pytest.mark.parametrize(
    ("bucket", "key", "unit", "kind"),
    [
        ("opentaco", "myapp/prod/terraform.tfstate", "myapp/prod", ObjectKind.STATE),
        ("opentaco", "myapp/prod/terraform.tfstate.tflock", "myapp/prod", ObjectKind.LOCK),
        ("opentaco", "env:/dev/myapp/prod/terraform.tfstate", "_env/dev/myapp/prod", None),
        ("acme", "web/terraform.tfstate", "acme/web", ObjectKind.STATE),
        ("acme", "terraform.tfstate", "acme", ObjectKind.STATE),
        ("acme", "env:/qa/terraform.tfstate.tflock", "acme/_env/qa", ObjectKind.LOCK),
        ("opentaco", "__opentaco_system/terraform.tfstate", "__opentaco_system", None),
    ],
)
def test_keys_name_units(bucket: str, key: str, unit: str, kind: ObjectKind | None) -> None:
    """The documented examples: the root bucket holds every unit, bucket B the units
    under B/, env:/<ws>/ keys are units under _env/<ws>/."""
    ref = BUCKETS.locate(bucket, key)
    assert ref.unit_id == unit
    assert ref.kind is (kind or ObjectKind.STATE)


@pytest.mark.parametrize(
    ("bucket", "key"),
    [
        ("opentaco", "terraform.tfstate"),  # the root bucket needs a path
        ("opentaco", "myapp/prod.tfstate"),  # only terraform.tfstate files
        ("opentaco", "myapp/prod/terraform.tfstate.lock"),
        ("opentaco", "myapp/prod/"),
        ("opentaco", "_env/dev/myapp/terraform.tfstate"),  # reached as env:/ only
        ("opentaco", "env:/terraform.tfstate"),
        ("opentaco", "env:/dev/a b/terraform.tfstate"),
        ("opentaco", "a//b/terraform.tfstate"),
        ("opentaco", "a/../b/terraform.tfstate"),
        ("acme", "x__y/terraform.tfstate"),
        ("opentaco", "myappterraform.tfstate"),
    ],
)
def test_other_keys_are_refused_with_the_rule(bucket: str, key: str) -> None:
    """A key that names no unit is InvalidArgument, with a message that says why."""
    with pytest.raises(InvalidArgument) as raised:
        BUCKETS.locate(bucket, key)
    assert raised.value.message


@pytest.mark.parametrize("bucket", ["", ".", "..", "a__b", "a/b", "ünï", "x" * 64])
def test_bucket_must_be_one_unit_id_segment(bucket: str) -> None:
    """A bucket name that cannot be a namespace is InvalidBucketName."""
    with pytest.raises(InvalidBucketName):
        BUCKETS.namespace(bucket)


@given(st.one_of(unit_ids, workspace_units), buckets)
def test_key_of_and_locate_are_inverse(unit: str, bucket: str) -> None:
    """Every unit a bucket holds has one key there, and that key names the unit."""
    namespace = BUCKETS.namespace(bucket)
    full = namespace + unit
    key = BUCKETS.key_of(bucket, full)
    assert key is not None
    assert BUCKETS.locate(bucket, key).unit_id == full
    assert BUCKETS.locate(bucket, key + ".tflock").kind is ObjectKind.LOCK


@given(unit_ids, st.sampled_from(["acme", "team-a"]))
def test_a_namespace_bucket_holds_only_its_units(unit: str, bucket: str) -> None:
    """Bucket B has no key for a unit outside B/ (nor for B-something/...)."""
    if unit == bucket or unit.startswith(bucket + "/"):
        return
    assert BUCKETS.key_of(bucket, unit) is None
    assert BUCKETS.key_of(bucket, bucket + "x/" + unit) is None


@given(st.one_of(unit_ids, workspace_units), buckets, st.data())
def test_unit_prefix_covers_every_unit_whose_key_matches(
    unit: str, bucket: str, data: st.DataObject
) -> None:
    """For any prefix of a unit's key, listing units by ``unit_prefix`` finds that unit."""
    full = BUCKETS.namespace(bucket) + unit
    key = BUCKETS.key_of(bucket, full)
    assert key is not None
    cut = data.draw(st.integers(min_value=0, max_value=len(key)))
    assert full.startswith(BUCKETS.unit_prefix(bucket, key[:cut]))
