"""The JSON:API documents Terraform reads, rendered from the core's objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from taco_adapters.wire.tfe import (
    Page,
    data_of,
    errors_document,
    output_json,
    page_of,
    state_version_json,
    tags_requested,
    workspace_json,
)
from taco_adapters.wire.tfe_ids import OutputRef, StateVersionRef, Workspace
from taco_core.errors import InvalidInput
from taco_core.model import LockInfo, StateVersion, Unit, UnitId

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
WS = Workspace("acme", "prod")
BASE = "https://taco.example.com/api/v2"


def test_a_workspace_says_local_and_echoes_the_version() -> None:
    """What Terraform needs: local execution, the client's version, tags,
    permissions (1.15 crashes deleting without them) and the current version."""
    unit = Unit(
        id=UnitId("acme/prod"),
        created=T0,
        updated=T0,
        labels={"team-x": "", "app": "billing"},
        head=7,
        lock=LockInfo(id="l1"),
    )
    doc = workspace_json(WS, unit, terraform_version="1.0.3", base_url=BASE)
    attributes = doc["attributes"]
    assert (doc["id"], doc["type"]) == ("ws-4-acme-prod", "workspaces")
    assert attributes["execution-mode"] == "local" and attributes["operations"] is False
    assert attributes["terraform-version"] == "1.0.3"
    assert attributes["tag-names"] == ["app", "team-x"]
    assert attributes["locked"] is True
    assert attributes["permissions"]["can-queue-run"] is False
    assert attributes["created-at"] == "2026-01-02T03:04:05.000000Z"
    assert doc["relationships"]["current-state-version"]["data"]["id"] == "sv-7-4-acme-prod"
    assert doc["relationships"]["organization"]["data"] == {"id": "acme", "type": "organizations"}


def test_a_state_version_with_and_without_its_bytes() -> None:
    """Stored: finalized with serial and MD5; pending: the upload URLs."""
    version = StateVersion(UnitId("acme/prod"), 3, 9, "lin", 10, "s" * 64, "m" * 32, T0)
    stored = state_version_json(StateVersionRef(WS, number=3), version, base_url=BASE)
    assert stored["attributes"]["status"] == "finalized"
    assert stored["attributes"]["serial"] == 9
    assert stored["attributes"]["hosted-state-download-url"] == (
        f"{BASE}/state-versions/sv-3-4-acme-prod/download"
    )
    pending = state_version_json(
        StateVersionRef(WS, md5="a" * 32), None, base_url=BASE, upload_url="u", json_upload_url="j"
    )
    attributes = pending["attributes"]
    assert attributes["status"] == "pending"
    assert (attributes["hosted-state-upload-url"], attributes["hosted-json-state-upload-url"]) == (
        "u",
        "j",
    )


def test_outputs_carry_simple_and_detailed_types() -> None:
    ref = OutputRef(WS, 1, "x")
    out = output_json(
        ref, {"value": [1], "type": ["list", "number"], "sensitive": True}, reveal=False
    )
    assert out["attributes"] == {
        "name": "x",
        "sensitive": True,
        "type": "array",
        "value": None,
        "detailed-type": ["list", "number"],
    }
    shown = output_json(ref, {"value": True, "type": "bool", "sensitive": True}, reveal=True)
    assert (shown["attributes"]["value"], shown["attributes"]["type"]) == (True, "boolean")


def test_pages_count_from_one() -> None:
    items, meta = Page(number=1, size=2).of([1, 2, 3])
    assert list(items) == [1, 2]
    assert meta["pagination"]["next-page"] == 2 and meta["pagination"]["total-pages"] == 2
    _, empty = Page().of([])
    assert empty["pagination"]["total-pages"] == 1 and empty["pagination"]["next-page"] is None
    assert page_of({"page[number]": "2", "page[size]": "5"}) == Page(2, 5)
    for bad in ({"page[size]": "101"}, {"page[number]": "0"}, {"page[size]": "x"}):
        with pytest.raises(InvalidInput):
            page_of(bad)


def test_tags_come_from_every_place_terraform_puts_them() -> None:
    data = {
        "attributes": {"tag-names": ["legacy"]},
        "relationships": {
            "tags": {"data": [{"type": "tags", "attributes": {"name": "app"}}]},
            "tag-bindings": {"data": [{"attributes": {"key": "tier", "value": "web"}}]},
        },
    }
    assert tags_requested(data) == {"legacy": "", "app": "", "tier": "web"}
    bads: list[dict[str, Any]] = [
        {"relationships": []},
        {"relationships": {"tags": {"data": [{"attributes": {"name": 5}}]}}},
        {"attributes": {"tag-names": "app"}},
    ]
    for bad in bads:
        with pytest.raises(InvalidInput):
            tags_requested(bad)
    with pytest.raises(InvalidInput):
        data_of({"data": []})


def test_errors_are_what_terraform_prints() -> None:
    assert errors_document(409, "conflict", "locked") == {
        "errors": [{"status": "409", "title": "conflict", "detail": "locked"}]
    }
