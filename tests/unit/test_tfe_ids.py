"""The Terraform-Cloud-compatible API's IDs: in go-tfe's character set,
decoding back to exactly the unit (and version, output) they were made for,
and refusing anything else."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taco_adapters.wire.tfe_ids import (
    OutputRef,
    StateVersionRef,
    Workspace,
    output_id,
    parse_output_id,
    parse_state_version_id,
    parse_workspace_id,
    state_version_id,
    workspace_id,
    workspace_of_unit,
)
from taco_core.errors import NotFound

# What go-tfe 0.15 (Terraform 1.0) accepts in any ID it sends.
GO_TFE_ID = re.compile(r"[a-zA-Z0-9._-]+")

segments = st.from_regex(r"[A-Za-z0-9._-]{1,40}", fullmatch=True).filter(
    lambda s: s not in (".", "..") and "__" not in s
)
workspaces = st.builds(Workspace, segments, segments)


@given(workspaces)
def test_a_workspace_id_decodes_to_its_workspace(ws: Workspace) -> None:
    """Any workspace, whatever '-', '_' or '.' its names hold, round-trips."""
    ident = workspace_id(ws)
    assert GO_TFE_ID.fullmatch(ident)
    assert parse_workspace_id(ident) == ws
    assert ws.unit_id == f"{ws.organization}/{ws.name}"


@given(workspaces, st.integers(min_value=0, max_value=10**12))
def test_a_state_version_id_decodes_to_its_version(ws: Workspace, number: int) -> None:
    """A stored version's ID names the workspace and the number."""
    ref = StateVersionRef(ws, number=number)
    ident = state_version_id(ref)
    assert GO_TFE_ID.fullmatch(ident)
    assert parse_state_version_id(ident) == ref


@given(workspaces, st.from_regex(r"[0-9a-f]{32}", fullmatch=True))
def test_a_pending_version_id_carries_its_md5(ws: Workspace, md5: str) -> None:
    """A version announced for upload is named by its MD5 until stored."""
    ref = StateVersionRef(ws, md5=md5)
    assert parse_state_version_id(state_version_id(ref)) == ref


@given(workspaces, st.integers(min_value=1, max_value=10**6), segments)
def test_an_output_id_decodes_to_its_output(ws: Workspace, number: int, name: str) -> None:
    """An output's ID names the workspace, the version and the output."""
    ref = OutputRef(ws, number, name)
    ident = output_id(ref)
    assert GO_TFE_ID.fullmatch(ident)
    assert parse_output_id(ident) == ref


def test_names_full_of_separators_stay_apart() -> None:
    """Organization 'a-4' with workspace 'b' and organization 'a' with
    workspace '4-b' get different IDs, each decoding to itself."""
    one, two = Workspace("a-4", "b"), Workspace("a", "4-b")
    assert workspace_id(one) != workspace_id(two)
    assert parse_workspace_id(workspace_id(one)) == one
    assert parse_workspace_id(workspace_id(two)) == two
    assert workspace_id(Workspace("acme", "prod")) == "ws-4-acme-prod"


@pytest.mark.parametrize(
    "ident",
    [
        "",
        "ws-",
        "ws-acme-prod",
        "ws-04-acme-prod",
        "ws-5-acme-prod",
        "ws-4-acme",
        "ws-4-acme-",
        "ws-4-acme-a/b",
        "ws-3-a/b-c",
        "ws-4-acme-a__b",
        "ws-0--prod",
        "ws-99999-x-y",
        "sv-4-acme-prod",
        "WS-4-acme-prod",
    ],
)
def test_foreign_workspace_ids_are_not_found(ident: str) -> None:
    """Anything that is not exactly one of our IDs is NotFound (a 404)."""
    with pytest.raises(NotFound):
        parse_workspace_id(ident)


@pytest.mark.parametrize(
    "ident",
    ["sv-", "sv-x-4-acme-prod", "sv-01-4-acme-prod", "sv-pABC-4-acme-prod", "sv-1-4-acme", "sv--1"],
)
def test_foreign_state_version_ids_are_not_found(ident: str) -> None:
    with pytest.raises(NotFound):
        parse_state_version_id(ident)


@pytest.mark.parametrize("ident", ["wsout-", "wsout-1-4-name", "wsout-1-0--4-acme-prod"])
def test_foreign_output_ids_are_not_found(ident: str) -> None:
    with pytest.raises(NotFound):
        parse_output_id(ident)


def test_only_two_segment_units_are_workspaces() -> None:
    """O/W is a workspace; O and O/a/b are not."""
    assert workspace_of_unit("acme/prod") == Workspace("acme", "prod")
    assert workspace_of_unit("acme") is None
    assert workspace_of_unit("acme/a/b") is None
