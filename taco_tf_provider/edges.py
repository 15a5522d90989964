"""Dependency edges: the edge ID, and the unit IDs it is computed from.

An edge's ID is derived from what it connects, so the same edge declared in two
configurations (or imported) gets the same ID, and the service can find it in the
system unit's state by recomputing it. The rule is the reference's, bit for bit:
base58 (Bitcoin alphabet) of the SHA-256 of ``from\\nfrom_output\\nto\\nto_input``,
with both unit IDs normalised first (spaces and ``/`` trimmed, a trailing
``/terraform.tfstate`` dropped, as paths in the reference's storage read).

This is the provider's only copy of the rule; it moves to the core's graph module
once that exists, and this module then only re-exports it.
"""

from __future__ import annotations

import hashlib

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_STATE_SUFFIX = "/terraform.tfstate"


def base58(data: bytes) -> str:
    """Bitcoin-alphabet base58; each leading zero byte becomes a leading ``1``."""
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while number:
        number, rest = divmod(number, 58)
        digits.append(_ALPHABET[rest])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(digits))


def normalise_unit(raw: str) -> str:
    """A unit ID as an edge names it: ``/myapp/prod/terraform.tfstate`` is ``myapp/prod``."""
    trimmed = raw.strip(" /")
    return trimmed.removesuffix(_STATE_SUFFIX)


def edge_id(from_unit: str, from_output: str, to_unit: str, to_input: str) -> str:
    """The ID of the edge that feeds ``from_unit``'s output into ``to_unit``'s input."""
    text = "\n".join((normalise_unit(from_unit), from_output, normalise_unit(to_unit), to_input))
    return base58(hashlib.sha256(text.encode("utf-8")).digest())
