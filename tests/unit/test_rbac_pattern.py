"""Resource patterns: ``*`` is any run of characters, everything else is literal."""

from __future__ import annotations

import re
import time
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taco_core.rbac_pattern import PatternSet, compile_pattern, matches


def reference_match(pattern: str, resource: str) -> bool:
    """The textbook recursive definition, for comparison."""

    @cache
    def m(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(resource)
        if pattern[i] == "*":
            return m(i + 1, j) or (j < len(resource) and m(i, j + 1))
        return j < len(resource) and pattern[i] == resource[j] and m(i + 1, j + 1)

    return m(0, 0)


def regex_match(pattern: str, resource: str) -> bool:
    """A second model: each literal piece escaped, stars as ``.*``."""
    regex = ".*".join(re.escape(piece) for piece in pattern.split("*"))
    return re.fullmatch(regex, resource, flags=re.DOTALL) is not None


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        ("dev/*", "dev/app", True),
        ("dev/*", "dev/a/b", True),
        ("dev/*", "dev", False),
        ("dev/*", "devx/app", False),
        ("dev.app", "dev.app", True),
        ("dev.app", "devXapp", False),
        ("*", "anything/at/all", True),
        ("*", "", True),
        ("*/db", "prod/eu/db", True),
        ("*/db", "prod/eu/dbx", False),
        ("app/*/database", "app/x/database", True),
        ("app/*/database", "app/x/y/database", True),
        ("app/*/database", "app//database", True),
        ("app/*/database", "app/database", False),
        ("a*a", "a", False),
        ("a*a", "aa", True),
        ("ab*ba", "aba", False),
        ("dev-*", "dev-", True),
        ("prod", "prod/app", False),
        ("x+y", "x+y", True),
        ("x+y", "xxy", False),
        ("a[b]", "a[b]", True),
        ("a?", "ab", False),
        ("**", "abc", True),
        ("a**b", "ab", True),
    ],
)
def test_examples(pattern: str, resource: str, expected: bool) -> None:
    """Stars cross '/', match the empty run, and every other character is literal."""
    assert matches(pattern, resource) is expected
    assert reference_match(pattern, resource) is expected


patterns = st.text(alphabet="ab/.*", max_size=10)
resources = st.text(alphabet="ab/.", max_size=12)


@given(pattern=patterns, resource=resources)
def test_matcher_agrees_with_reference_models(pattern: str, resource: str) -> None:
    """On generated patterns and IDs the matcher agrees with the recursive and regex models."""
    expected = reference_match(pattern, resource)
    assert regex_match(pattern, resource) is expected
    assert matches(pattern, resource) is expected


@given(pattern=patterns, prefix=resources, suffix=resources)
def test_pattern_matches_its_own_instances(pattern: str, prefix: str, suffix: str) -> None:
    """Replacing each star by any text yields a resource the pattern matches."""
    resource = pattern.replace("*", prefix + suffix)
    assert matches(pattern, resource)


@given(group=st.lists(patterns, max_size=6), resource=resources)
def test_pattern_set_is_any_of_its_patterns(group: list[str], resource: str) -> None:
    """A PatternSet matches exactly when one of its patterns does."""
    compiled = PatternSet(compile_pattern(p) for p in group)
    assert compiled.any_match(resource) is any(reference_match(p, resource) for p in group)
    assert compiled.empty is (not group)


def test_many_stars_take_linear_time() -> None:
    """A pattern with dozens of stars against a long near-miss ID answers at once
    (a backtracking matcher takes exponential time here)."""
    pattern = "a*" * 40 + "b"
    resource = "a" * 255
    started = time.perf_counter()
    for _ in range(100):
        assert not matches(pattern, resource)
    assert time.perf_counter() - started < 1.0


def test_star_only_pattern_set_matches_everything() -> None:
    """A set holding '*' reports that it matches everything (the filter's fast path)."""
    assert PatternSet([compile_pattern("*"), compile_pattern("x")]).matches_everything
    assert not PatternSet([compile_pattern("x*")]).matches_everything
