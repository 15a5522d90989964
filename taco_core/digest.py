"""Output digests and edge IDs, computed exactly as the reference computes them.

Both are base58 (Bitcoin alphabet) of a SHA-256. Edge IDs are computed by the
Terraform provider when it creates an ``opentaco_dependency`` and digests by the
service when units are written; graph states written by the reference hold
both, so the bytes hashed here match the reference's byte for byte.
"""

from __future__ import annotations

import hashlib
from typing import Any

from taco_core.canonical_json import canonical_json

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

_STATE_FILE_SUFFIX = "/terraform.tfstate"


def base58(data: bytes) -> str:
    """Bitcoin-style base58: big-endian digits, one ``1`` per leading zero byte."""
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while number:
        number, rest = divmod(number, 58)
        digits.append(BASE58_ALPHABET[rest])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(digits))


def value_digest(value: Any) -> str:
    """The digest of an output's decoded ``value`` (see ``taco_core.canonical_json``)."""
    return base58(hashlib.sha256(canonical_json(value)).digest())


def _provider_unit_id(raw: str) -> str:
    # The provider trims only slashes and the state-file suffix; it does not
    # trim spaces as the service's edge normalisation does.
    return raw.strip("/").removesuffix(_STATE_FILE_SUFFIX)


def edge_id(from_unit_id: str, from_output: str, to_unit_id: str, to_input: str = "") -> str:
    """The ID the provider gives an edge: base58(sha256("from\\nfrom_output\\nto\\nto_input")).

    ``to_input`` defaults to ``from_output`` when empty, as in the provider.
    """
    material = "\n".join(
        (
            _provider_unit_id(from_unit_id),
            from_output,
            _provider_unit_id(to_unit_id),
            to_input or from_output,
        )
    )
    return base58(hashlib.sha256(material.encode("utf-8")).digest())
