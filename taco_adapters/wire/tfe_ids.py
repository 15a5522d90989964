"""The IDs the Terraform-Cloud-compatible API hands out, and the units they name.

Terraform's client (go-tfe) checks every ID before sending it: 0.15 (Terraform
1.0) accepts only ``[A-Za-z0-9._-]``, 1.x anything without ``/`` or
whitespace. So an ID cannot simply be the unit ID ``acme/prod``. Each ID here
*encodes* what it names, so no table maps IDs to units (nothing to store,
nothing to keep in sync between replicas), and decoding is exact:

- workspace ``W`` of organization ``O`` (unit ``O/W``): ``ws-<len(O)>-<O>-<W>``,
  e.g. ``ws-4-acme-prod``. The length of ``O`` says where it ends, so any
  characters the names may hold (``-``, ``_``, ``.``) stay unambiguous.
- a state version, number ``N`` of the unit: ``sv-<N>-<len(O)>-<O>-<W>``;
  one whose bytes are still being uploaded (Terraform's upload-URL flow):
  ``sv-p<md5 hex>-<len(O)>-<O>-<W>``, which names the version by its content
  until the upload makes it a numbered one.
- output ``X`` of version ``N``: ``wsout-<N>-<len(X)>-<X>-<len(O)>-<O>-<W>``.

Every ID is canonical: decoding then encoding gives it back, and anything
else (a foreign or mangled ID) does not decode.
"""

from __future__ import annotations

import re

from attrs import frozen

from taco_core.errors import InvalidUnitId, NotFound
from taco_core.model import UnitId
from taco_core.unit_id import parse_unit_id

__all__ = [
    "OutputRef",
    "StateVersionRef",
    "Workspace",
    "output_id",
    "parse_output_id",
    "parse_state_version_id",
    "parse_workspace_id",
    "state_version_id",
    "workspace_id",
    "workspace_of_unit",
]

_LENGTH = re.compile(r"(0|[1-9][0-9]{0,3})-")
_NUMBER = re.compile(r"(0|[1-9][0-9]{0,17})-")
_MD5 = re.compile(r"p([0-9a-f]{32})-")


@frozen
class Workspace:
    """A workspace: organization ``organization``, name ``name``, unit ``O/W``."""

    organization: str
    name: str

    @property
    def unit_id(self) -> UnitId:
        return UnitId(f"{self.organization}/{self.name}")

    @property
    def id(self) -> str:
        return workspace_id(self)


def workspace_of_unit(unit_id: str) -> Workspace | None:
    """The workspace a unit is, when its ID has exactly two segments
    (``O/W``); deeper units are not workspaces (names cannot hold ``/``)."""
    organization, sep, name = unit_id.partition("/")
    if not sep or "/" in name:
        return None
    return Workspace(organization, name)


def _key(ws: Workspace) -> str:
    return f"{len(ws.organization)}-{ws.organization}-{ws.name}"


def _length_prefixed(text: str) -> tuple[str, str] | None:
    """Split ``<n>-<n characters>-<rest>`` into the field and the rest."""
    match = _LENGTH.match(text)
    if match is None:
        return None
    size = int(match.group(1))
    start = match.end()
    field, rest = text[start : start + size], text[start + size :]
    if size == 0 or len(field) != size or not rest.startswith("-"):
        return None
    return field, rest[1:]


def _workspace(key: str) -> Workspace | None:
    split = _length_prefixed(key)
    if split is None:
        return None
    organization, name = split
    if "/" in organization or "/" in name:
        return None
    try:
        parse_unit_id(f"{organization}/{name}")
    except InvalidUnitId:
        return None
    return Workspace(organization, name)


def workspace_id(ws: Workspace) -> str:
    return f"ws-{_key(ws)}"


def parse_workspace_id(raw: str) -> Workspace:
    """The workspace ``raw`` names; ``NotFound`` for anything that is not one
    of our workspace IDs."""
    ws = _workspace(raw[3:]) if raw.startswith("ws-") else None
    if ws is None or workspace_id(ws) != raw:
        raise NotFound(f"workspace {raw!r} not found")
    return ws


@frozen
class StateVersionRef:
    """A state version: number ``number``, or (while its upload is pending)
    the MD5 of the bytes announced for it."""

    workspace: Workspace
    number: int | None = None
    md5: str = ""


def state_version_id(ref: StateVersionRef) -> str:
    which = str(ref.number) if ref.number is not None else f"p{ref.md5}"
    return f"sv-{which}-{_key(ref.workspace)}"


def parse_state_version_id(raw: str) -> StateVersionRef:
    """The state version ``raw`` names; ``NotFound`` otherwise."""
    ref: StateVersionRef | None = None
    if raw.startswith("sv-"):
        rest = raw[3:]
        number = _NUMBER.match(rest)
        pending = _MD5.match(rest)
        if number is not None:
            ws = _workspace(rest[number.end() :])
            if ws is not None:
                ref = StateVersionRef(ws, number=int(number.group(1)))
        elif pending is not None:
            ws = _workspace(rest[pending.end() :])
            if ws is not None:
                ref = StateVersionRef(ws, md5=pending.group(1))
    if ref is None or state_version_id(ref) != raw:
        raise NotFound(f"state version {raw!r} not found")
    return ref


@frozen
class OutputRef:
    """Output ``name`` of version ``number`` of a workspace."""

    workspace: Workspace
    number: int
    name: str


def output_id(ref: OutputRef) -> str:
    return f"wsout-{ref.number}-{len(ref.name)}-{ref.name}-{_key(ref.workspace)}"


def parse_output_id(raw: str) -> OutputRef:
    """The output ``raw`` names; ``NotFound`` otherwise."""
    ref: OutputRef | None = None
    if raw.startswith("wsout-"):
        rest = raw[6:]
        number = _NUMBER.match(rest)
        if number is not None:
            split = _length_prefixed(rest[number.end() :])
            if split is not None:
                ws = _workspace(split[1])
                if ws is not None:
                    ref = OutputRef(ws, int(number.group(1)), split[0])
    if ref is None or output_id(ref) != raw:
        raise NotFound(f"state version output {raw!r} not found")
    return ref
