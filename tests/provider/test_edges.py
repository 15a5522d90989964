"""The edge ID: base58 of SHA-256, over normalised unit IDs."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from taco_tf_provider.edges import base58, edge_id, normalise_unit

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def decode58(text: str) -> bytes:
    """Base58 decoding written independently of the encoder under test."""
    number = 0
    for char in text:
        number = number * 58 + _ALPHABET.index(char)
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    ones = len(text) - len(text.lstrip("1"))
    return b"\0" * ones + body


def test_base58_matches_bitcoin_vectors() -> None:
    """Known answers of the Bitcoin alphabet, leading zero bytes included."""
    assert base58(b"") == ""
    assert base58(b"\0") == "1"
    assert base58(b"Hello World!") == "2NEpo7TZRRrLZSi2U"
    assert base58(bytes.fromhex("00000000287fb4cd")) == "1111233QC4"
    assert base58(bytes.fromhex("516b6fcd0f")) == "ABnLTmg"


@given(st.binary(max_size=64))
def test_base58_round_trips(data: bytes) -> None:
    """Decoding the encoding gives the bytes back."""
    assert decode58(base58(data)) == data


def test_edge_id_is_base58_of_the_sha256_of_the_four_names() -> None:
    """from, from_output, to and to_input joined by newlines, hashed, base58."""
    digest = hashlib.sha256(b"net/prod\nvpc_id\napp/prod\nvpc").digest()
    assert edge_id("net/prod", "vpc_id", "app/prod", "vpc") == base58(digest)


def test_unit_ids_are_normalised_before_hashing() -> None:
    """Spaces, slashes and a trailing /terraform.tfstate do not make a different edge."""
    plain = edge_id("net/prod", "o", "app/prod", "o")
    assert edge_id(" /net/prod/ ", "o", "app/prod/terraform.tfstate", "o") == plain
    assert normalise_unit("/app/prod/terraform.tfstate/") == "app/prod"


@given(st.lists(st.text(min_size=1, max_size=8), min_size=4, max_size=4, unique=True))
def test_every_part_of_an_edge_changes_its_id(names: list[str]) -> None:
    """Swapping roles or changing any name gives another ID (no accidental collisions)."""
    a, b, c, d = names
    assert len({edge_id(a, b, c, d), edge_id(c, b, a, d), edge_id(a, d, c, b)}) == 3
