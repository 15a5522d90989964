"""``Range`` headers on the S3 endpoint, read as S3 reads them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taco_http.s3_endpoint.objects import byte_range
from taco_http.s3api.errors import InvalidRange


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-5242879", 100, (0, 99)),  # what Terraform asks for first
        ("bytes=2-4", 10, (2, 4)),
        ("bytes=5-", 10, (5, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-30", 10, (0, 9)),
        ("bytes=4-2", 10, None),  # invalid: ignored, the whole object
        ("bytes=0-1,4-5", 10, None),  # several ranges: the whole object
        ("items=0-1", 10, None),
        ("bytes=-", 10, None),
    ],
)
def test_ranges(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    """Single ranges are served, clipped to the object; others mean the whole object."""
    assert byte_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=10-20", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    """A range that starts past the end (or asks for no byte) is InvalidRange."""
    with pytest.raises(InvalidRange):
        byte_range(header, 10)


@given(st.integers(0, 50), st.integers(0, 50), st.integers(1, 40))
def test_served_ranges_lie_inside_the_object(first: int, last: int, size: int) -> None:
    """Whatever is asked, a served range is non-empty and inside the object."""
    try:
        found = byte_range(f"bytes={first}-{last}", size)
    except InvalidRange:
        assert first >= size
        return
    if found is not None:
        start, end = found
        assert 0 <= start <= end < size
        assert start == first
