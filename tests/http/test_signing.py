"""Signed URLs and sealed values: what the server issues verifies, for that
purpose only and only until it expires; any change fails (in constant time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taco_core.auth import Principal, PrincipalKind
from taco_core.errors import Forbidden
from taco_http.signed_urls import UrlSigner
from taco_http.tfe.sealed import (
    BrokenSeal,
    decode_principal,
    encode_principal,
    s256,
    seal,
    unseal,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=5)
KEY = b"k" * 32
PATH = "/api/v2/state-versions/sv-p0-4-acme-prod/content"


def signed(params: dict[str, str] | None = None) -> list[tuple[str, str]]:
    query = UrlSigner(KEY).sign("PUT", PATH, params or {"serial": "3"}, now=NOW, ttl=TTL)
    return parse_qsl(query, keep_blank_values=True)


def test_a_signed_url_verifies_and_gives_back_its_parameters() -> None:
    """Within its lifetime, for its method and path, the parameters come back."""
    got = UrlSigner(KEY).verify("PUT", PATH, signed({"serial": "3", "p": "x"}), now=NOW)
    assert got == {"serial": "3", "p": "x"}
    later = NOW + TTL - timedelta(seconds=1)
    assert UrlSigner(KEY).verify("put", PATH, signed(), now=later) == {"serial": "3"}


@pytest.mark.parametrize(
    ("method", "path", "key", "now"),
    [
        ("GET", PATH, KEY, NOW),
        ("PUT", PATH.replace("content", "json-content"), KEY, NOW),
        ("PUT", PATH, b"x" * 32, NOW),
        ("PUT", PATH, KEY, NOW + TTL + timedelta(seconds=1)),
    ],
)
def test_another_method_path_key_or_a_late_use_fails(
    method: str, path: str, key: bytes, now: datetime
) -> None:
    with pytest.raises(Forbidden):
        UrlSigner(key).verify(method, path, signed(), now=now)


def test_tampering_with_the_query_fails() -> None:
    """A changed, added, removed or doubled parameter, or a missing signature."""
    pairs = signed({"serial": "3"})
    variants = [
        [(k, "4" if k == "serial" else v) for k, v in pairs],
        [*pairs, ("force", "1")],
        [(k, v) for k, v in pairs if k != "serial"],
        [*pairs, ("serial", "3")],
        [(k, v) for k, v in pairs if k != "sig"],
        [(k, str(int(v) + 600) if k == "exp" else v) for k, v in pairs],
        [(k, v.upper() if k == "sig" else v) for k, v in pairs],
    ]
    for variant in variants:
        with pytest.raises(Forbidden):
            UrlSigner(KEY).verify("PUT", PATH, variant, now=NOW)


def test_the_signatures_own_names_cannot_be_parameters() -> None:
    with pytest.raises(ValueError, match="exp and sig"):
        UrlSigner(KEY).sign("PUT", PATH, {"exp": "1"}, now=NOW, ttl=TTL)


def test_a_sealed_value_opens_only_for_its_purpose_and_in_time() -> None:
    value = seal(KEY, "code", {"a": 1, "b": ["x"]}, now=NOW, ttl=TTL)
    assert unseal(KEY, "code", value, now=NOW) == {"a": 1, "b": ["x"]}
    for key, purpose, when in (
        (KEY, "state", NOW),
        (b"y" * 32, "code", NOW),
        (KEY, "code", NOW + TTL + timedelta(seconds=1)),
    ):
        with pytest.raises(BrokenSeal):
            unseal(key, purpose, value, now=when)
    body, _, mac = value.partition(".")
    for forged in (f"{body}x.{mac}", f"{body}.{mac[:-1]}", body, "", "....", f"!!.{mac}"):
        with pytest.raises(BrokenSeal):
            unseal(KEY, "code", forged, now=NOW)


principals = st.builds(
    Principal,
    subject=st.text(min_size=1, max_size=30),
    kind=st.sampled_from(list(PrincipalKind)),
    email=st.text(max_size=20),
    groups=st.lists(st.text(max_size=10), max_size=3).map(tuple),
    token_id=st.text(max_size=10),
    narrowed_to=st.none() | st.lists(st.text(max_size=8), max_size=3).map(tuple),
)


@given(principals)
def test_a_principal_survives_a_url(principal: Principal) -> None:
    """Everything that decides what a principal may do round-trips."""
    assert decode_principal(encode_principal(principal)) == principal


def test_s256_is_rfc_7636() -> None:
    """The RFC's own example verifier and challenge."""
    assert s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
