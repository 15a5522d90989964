"""``opentaco_unit``'s logic over a fake service: create, read, update, delete,
import, and every failure turned into a diagnostic."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tf.iface import CreateContext, DeleteContext, ImportContext, ReadContext, UpdateContext
from tf.types import Unknown
from tf.utils import Diagnostics

from taco_core.errors import Forbidden, StorageUnavailable, Unauthenticated
from taco_core.model import LockInfo
from taco_core.unit_id import UnitId
from taco_tf_provider.provider import OpenTacoProvider
from taco_tf_provider.unit_resource import UnitResource, label_changes
from tests.provider.conftest import errors
from tests.provider.fakes import FakeControl

TYPE = "opentaco_unit"


def planned(unit_id: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """What the framework hands ``create`` for a new unit."""
    return {"id": unit_id, "labels": labels, "size": Unknown, "updated": Unknown, "locked": Unknown}


def create(provider: OpenTacoProvider, unit_id: str, labels: dict[str, str] | None = None):
    diags = Diagnostics()
    state = UnitResource(provider).create(CreateContext(diags, TYPE), planned(unit_id, labels))
    return state, diags


def test_create_sends_the_labels_and_fills_the_computed_attributes(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """A created unit exists with its labels; size, updated and locked are known."""
    state, diags = create(provider, "myapp/prod", {"team": "payments"})
    assert not diags.diagnostics
    unit = provider.portal.call(fake.get_unit, UnitId("myapp/prod"))
    assert dict(unit.labels) == {"team": "payments"}
    assert state == {
        "id": "myapp/prod",
        "labels": {"team": "payments"},
        "size": 0,
        "updated": unit.updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "locked": False,
    }


def test_read_returns_the_unit_as_the_service_has_it(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """Labels changed behind Terraform's back show up on refresh (so a plan reverts them)."""
    state, _ = create(provider, "myapp/prod", {"team": "a"})
    provider.portal.call(fake.update_labels, UnitId("myapp/prod"), {"team": "b"})
    provider.portal.call(fake.lock, UnitId("myapp/prod"), LockInfo(id="L1", who="bob@ci"))
    diags = Diagnostics()
    fresh = UnitResource(provider).read(ReadContext(diags, TYPE), state)
    assert not diags.diagnostics
    assert fresh is not None
    assert (fresh["labels"], fresh["locked"]) == ({"team": "b"}, True)


def test_read_keeps_absent_labels_null(provider: OpenTacoProvider) -> None:
    """A unit without labels whose configuration sets none reads back null, not {}."""
    state, _ = create(provider, "myapp/prod")
    assert state is not None and state["labels"] is None
    fresh = UnitResource(provider).read(ReadContext(Diagnostics(), TYPE), state)
    assert fresh is not None and fresh["labels"] is None
    state["labels"] = {}
    fresh = UnitResource(provider).read(ReadContext(Diagnostics(), TYPE), state)
    assert fresh is not None and fresh["labels"] == {}


def test_a_unit_deleted_out_of_band_drops_out_of_the_state(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """Read of a unit that no longer exists returns no state and no error (plan re-creates)."""
    state, _ = create(provider, "myapp/prod")
    provider.portal.call(fake.delete_unit, UnitId("myapp/prod"))
    diags = Diagnostics()
    assert UnitResource(provider).read(ReadContext(diags, TYPE), state) is None
    assert not diags.diagnostics


def test_update_changes_the_labels_in_place_once(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """Only the differences are sent, in one call (a removed label as null); the
    result is the plan, computed values kept."""
    state, _ = create(provider, "myapp/prod", {"team": "a", "keep": "k", "old": "x"})
    assert state is not None
    wanted = {**state, "labels": {"team": "b", "keep": "k", "tier": "1"}}
    diags = Diagnostics()
    result = UnitResource(provider).update(UpdateContext(diags, TYPE), state, wanted)
    assert not diags.diagnostics
    assert result == wanted
    assert [c for c in fake.calls if c[0] == "update_labels"] == [
        ("update_labels", ("myapp/prod", {"team": "b", "tier": "1", "old": None}))
    ]
    unit = provider.portal.call(fake.get_unit, UnitId("myapp/prod"))
    assert dict(unit.labels) == {"team": "b", "keep": "k", "tier": "1"}


@given(
    old=st.dictionaries(st.sampled_from("abcd"), st.sampled_from("xyz")),
    new=st.dictionaries(st.sampled_from("abcd"), st.sampled_from("xyz")),
)
def test_label_changes_turn_the_old_labels_into_the_new(
    old: dict[str, str], new: dict[str, str]
) -> None:
    """Applying the changes to the old labels gives the new ones, and no change
    names a key whose value stays."""
    changes = label_changes(old, new)
    applied = dict(old)
    for key, value in changes.items():
        if value is None:
            del applied[key]
        else:
            applied[key] = value
    assert applied == new
    assert all(old.get(k) != v for k, v in changes.items())


def test_update_from_null_to_empty_labels_makes_no_call(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """null and {} are the same labels on the server: nothing is sent."""
    state, _ = create(provider, "myapp/prod")
    assert state is not None
    result = UnitResource(provider).update(
        UpdateContext(Diagnostics(), TYPE), state, {**state, "labels": {}}
    )
    assert result is not None and result["labels"] == {}
    assert "update_labels" not in [name for name, _ in fake.calls]


def test_a_failed_update_keeps_the_old_state(provider: OpenTacoProvider, fake: FakeControl) -> None:
    """When the service refuses the label change, Terraform keeps the state it had."""
    state, _ = create(provider, "myapp/prod", {"team": "a"})
    assert state is not None
    fake.refuse["update_labels"] = StorageUnavailable("disk on fire")
    diags = Diagnostics()
    wanted = {**state, "labels": {"team": "b"}}
    assert UnitResource(provider).update(UpdateContext(diags, TYPE), state, wanted) == state
    assert errors(diags) == [
        ('Cannot update the labels of unit "myapp/prod"', "disk on fire"),
    ]


def test_delete_removes_the_unit_and_tolerates_one_already_gone(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """Delete deletes; deleting a unit that is already gone is not an error."""
    state, _ = create(provider, "myapp/prod")
    assert state is not None
    resource = UnitResource(provider)
    diags = Diagnostics()
    assert resource.delete(DeleteContext(diags, TYPE), state) is None
    assert provider.portal.call(fake.list_units, "") == []
    assert resource.delete(DeleteContext(diags, TYPE), state) is None
    assert not diags.diagnostics


def test_deleting_a_locked_unit_names_the_holder(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """A locked unit is kept (state returned) and the diagnostic names who holds the lock."""
    state, _ = create(provider, "myapp/prod")
    assert state is not None
    holder = LockInfo(id="lock-7", who="alice@laptop", operation="OperationTypeApply")
    provider.portal.call(fake.lock, UnitId("myapp/prod"), holder)
    diags = Diagnostics()
    assert UnitResource(provider).delete(DeleteContext(diags, TYPE), state) == state
    [(summary, detail)] = errors(diags)
    assert summary == 'Unit "myapp/prod" is locked by alice@laptop: cannot delete unit "myapp/prod"'
    assert "ID:        lock-7" in detail
    assert "Operation: OperationTypeApply" in detail
    assert "taco unit unlock myapp/prod --force" in detail


def test_a_create_rbac_refuses_names_the_action_and_the_unit(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """RBAC 403: the summary names what was refused and the permission it needs,
    the detail the server, the token's source and the deciding rule."""
    fake.access.deny("unit.write", "myapp/prod")
    state, diags = create(provider, "myapp/prod")
    assert state is None
    [(summary, detail)] = errors(diags)
    assert summary == (
        'Permission denied: cannot create unit "myapp/prod" (needs unit.write on "myapp/prod")'
    )
    assert detail.startswith(
        "http://taco.test:8080 refused the token from the provider's token argument: "
        "permission denied: unit.write on unit 'myapp/prod' is not allowed "
        "(no rule of the caller's roles allows it)"
    )
    assert "taco rbac me" in detail


def test_a_refused_label_update_names_unit_write(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """Changing labels needs unit.write; refused, the old state stays and the
    diagnostic says so."""
    state, _ = create(provider, "myapp/prod", {"team": "a"})
    assert state is not None
    fake.access.deny("unit.write", "myapp/prod")
    diags = Diagnostics()
    wanted = {**state, "labels": {"team": "b"}}
    assert UnitResource(provider).update(UpdateContext(diags, TYPE), state, wanted) == state
    [(summary, _)] = errors(diags)
    assert summary == (
        'Permission denied: cannot update the labels of unit "myapp/prod" '
        '(needs unit.write on "myapp/prod")'
    )


def test_a_forbidden_answer_without_rbac_data_still_names_what_was_refused(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """A 403 that is not an RBAC refusal (a proxy's, say) keeps the server's words."""
    fake.refuse["create_unit"] = Forbidden("blocked by the corporate proxy")
    state, diags = create(provider, "myapp/prod")
    assert state is None
    [(summary, detail)] = errors(diags)
    assert summary == 'Permission denied: cannot create unit "myapp/prod"'
    assert detail.endswith("blocked by the corporate proxy")
    assert "http://taco.test:8080" in detail


def test_an_existing_unit_suggests_import(provider: OpenTacoProvider) -> None:
    """Creating a unit that exists fails with the terraform import command to adopt it."""
    create(provider, "myapp/prod")
    state, diags = create(provider, "myapp/prod")
    assert state is None
    [(summary, detail)] = errors(diags)
    assert summary == 'Already exists: cannot create unit "myapp/prod"'
    assert "terraform import <resource address> myapp/prod" in detail


def test_a_refused_token_says_where_it_came_from(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """401 on refresh fails the plan and names the token's source (here the argument)."""
    state, _ = create(provider, "myapp/prod")
    assert state is not None
    fake.refuse["get_unit"] = Unauthenticated("API token revoked")
    diags = Diagnostics()
    assert UnitResource(provider).read(ReadContext(diags, TYPE), state) == state
    [(summary, detail)] = errors(diags)
    assert summary == 'Not authenticated: cannot read unit "myapp/prod"'
    assert "refused the token from the provider's token argument: API token revoked" in detail


def test_an_unexpected_exception_becomes_a_diagnostic_without_traceback(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """A bug surfaces as one diagnostic naming the exception, never as a traceback."""
    fake.refuse["create_unit"] = KeyError("boom")
    state, diags = create(provider, "myapp/prod")
    assert state is None
    [(summary, detail)] = errors(diags)
    assert summary == 'Internal error in the OpenTaco provider: cannot create unit "myapp/prod"'
    assert detail.startswith("KeyError: 'boom'")
    assert "Traceback" not in detail


def test_import_takes_the_id_and_leaves_the_rest_to_read(provider: OpenTacoProvider) -> None:
    """Import by ID yields a state with the ID; the read that follows fills in the rest."""
    create(provider, "legacy/app", {"team": "old"})
    resource = UnitResource(provider)
    diags = Diagnostics()
    imported = resource.import_(ImportContext(diags, TYPE), "legacy/app")
    assert imported == {
        "id": "legacy/app",
        "labels": None,
        "size": None,
        "updated": None,
        "locked": None,
    }
    fresh = resource.read(ReadContext(diags, TYPE), imported)
    assert fresh is not None and fresh["labels"] == {"team": "old"}
    assert not diags.diagnostics


@pytest.mark.parametrize("bad", ["a//b", "__opentaco_system", "x y"])
def test_invalid_ids_fail_validation_and_import(provider: OpenTacoProvider, bad: str) -> None:
    """IDs the service would refuse are refused before any call, naming the rule."""
    diags = Diagnostics()
    UnitResource(provider).validate(diags, TYPE, {"id": bad, "labels": None})
    assert [d.summary for d in diags.diagnostics] == ["Invalid unit ID"]
    diags = Diagnostics()
    assert UnitResource(provider).import_(ImportContext(diags, TYPE), bad) is None
    assert [d.summary for d in diags.diagnostics] == ["Invalid unit ID"]


def test_an_unknown_id_is_not_validated_yet(provider: OpenTacoProvider) -> None:
    """An ID that is only known at apply time passes validation."""
    diags = Diagnostics()
    UnitResource(provider).validate(diags, TYPE, {"id": Unknown, "labels": None})
    assert not diags.diagnostics
