"""``opentaco_dependency``: local only, the reference's defaults, import forms."""

from __future__ import annotations

import pytest
from tf.iface import CreateContext, DeleteContext, ImportContext, ReadContext, UpdateContext
from tf.types import Unknown
from tf.utils import Diagnostics

from taco_core.digest import edge_id
from taco_core.graph import COMPUTED_ATTRIBUTES
from taco_tf_provider import dependency_resource
from taco_tf_provider.dependency_resource import DependencyResource
from taco_tf_provider.provider import OpenTacoProvider
from tests.provider.fakes import FakeControl

TYPE = "opentaco_dependency"

FRESH = {
    "in_digest": "",
    "out_digest": "",
    "status": "unknown",
    "last_in_at": None,
    "last_out_at": None,
}


def plan(to_input: object = Unknown) -> dict[str, object]:
    """What the framework plans for a new edge (computed defaults from the schema)."""
    return {
        "id": Unknown,
        "from_unit_id": "net/prod",
        "from_output": "vpc_id",
        "to_unit_id": "app/prod",
        "to_input": to_input,
        **FRESH,
    }


def test_create_defaults_to_input_and_derives_the_id(
    provider: OpenTacoProvider, fake: FakeControl
) -> None:
    """to_input follows from_output; the ID is the edge ID; nothing seen yet; no call made."""
    state = DependencyResource(provider).create(CreateContext(Diagnostics(), TYPE), plan())
    assert state == {
        **plan(),
        "id": edge_id("net/prod", "vpc_id", "app/prod", "vpc_id"),
        "to_input": "vpc_id",
    }
    assert fake.calls == []


def test_create_keeps_an_explicit_to_input(provider: OpenTacoProvider) -> None:
    """A given to_input is kept and is part of the ID."""
    state = DependencyResource(provider).create(CreateContext(Diagnostics(), TYPE), plan("vpc"))
    assert state is not None
    assert (state["to_input"], state["id"]) == (
        "vpc",
        edge_id("net/prod", "vpc_id", "app/prod", "vpc"),
    )


def test_a_new_edge_has_every_field_the_service_writes() -> None:
    """The provider's fresh values cover exactly the core's computed attributes."""
    assert tuple(dependency_resource.FRESH) == COMPUTED_ATTRIBUTES
    assert dependency_resource.FRESH == FRESH


def test_the_schema_plans_the_service_fields_before_apply() -> None:
    """Digests, status and times are known in the plan; only the ID waits for apply."""
    defaults = {a.name: a.default for a in DependencyResource.get_schema().attributes}
    assert {k: defaults[k] for k in FRESH} == FRESH
    assert defaults["id"] is Unknown
    replaced = {a.name for a in DependencyResource.get_schema().attributes if a.requires_replace}
    assert replaced == {"from_unit_id", "from_output", "to_unit_id", "to_input"}


def test_read_echoes_what_the_service_wrote(provider: OpenTacoProvider) -> None:
    """Digests and status written into the state by the service are read back as they are."""
    edited = {**plan("vpc"), "id": "x", "in_digest": "abc", "status": "pending", "last_in_at": "t"}
    assert DependencyResource(provider).read(ReadContext(Diagnostics(), TYPE), edited) == edited


def test_update_recomputes_the_id_and_carries_the_service_fields(
    provider: OpenTacoProvider,
) -> None:
    """Update (the reference's rule): new ID from the plan, digests and status from the state."""
    current = {**plan("vpc"), "id": "old", "in_digest": "abc", "status": "ok", "last_out_at": "t"}
    planned = {**current, "to_unit_id": "app/dev", "in_digest": "", "status": "unknown"}
    state = DependencyResource(provider).update(
        UpdateContext(Diagnostics(), TYPE), current, planned
    )
    assert state is not None
    assert state["id"] == edge_id("net/prod", "vpc_id", "app/dev", "vpc")
    assert (state["in_digest"], state["status"], state["last_out_at"]) == ("abc", "ok", "t")


def test_delete_makes_no_call(provider: OpenTacoProvider, fake: FakeControl) -> None:
    """The edge lives only in the state: deleting it calls nothing."""
    assert DependencyResource(provider).delete(DeleteContext(Diagnostics(), TYPE), plan()) is None
    assert fake.calls == []


def test_import_of_the_full_form_builds_the_edge(provider: OpenTacoProvider) -> None:
    """FROM,OUTPUT,TO[,INPUT] imports exactly the edge the configuration declares."""
    resource = DependencyResource(provider)
    three = resource.import_(ImportContext(Diagnostics(), TYPE), "net/prod,vpc_id,app/prod")
    created = resource.create(CreateContext(Diagnostics(), TYPE), plan())
    assert three == created
    four = resource.import_(ImportContext(Diagnostics(), TYPE), "net/prod, vpc_id, app/prod, vpc")
    assert four is not None and four["to_input"] == "vpc"


def test_import_of_a_bare_edge_id_keeps_only_the_id(provider: OpenTacoProvider) -> None:
    """The reference's form: the ID passes through, the next apply fills in the rest."""
    state = DependencyResource(provider).import_(ImportContext(Diagnostics(), TYPE), "3bQEg9")
    assert state is not None
    assert state["id"] == "3bQEg9" and state["from_unit_id"] is None
    assert state["status"] == "unknown"


@pytest.mark.parametrize("bad", ["a,b", "a,,c", "a,b,c,d,e", ""])
def test_import_rejects_malformed_ids(provider: OpenTacoProvider, bad: str) -> None:
    """Anything else fails with the expected form in the message."""
    diags = Diagnostics()
    assert DependencyResource(provider).import_(ImportContext(diags, TYPE), bad) is None
    [diagnostic] = diags.diagnostics
    assert "FROM_UNIT_ID,FROM_OUTPUT,TO_UNIT_ID[,TO_INPUT]" in (diagnostic.detail or "")


def test_validation_checks_unit_ids_after_normalising(provider: OpenTacoProvider) -> None:
    """/x/terraform.tfstate is a fine endpoint; a//b and an empty output are not."""
    resource = DependencyResource(provider)
    good = {**plan(), "from_unit_id": "/net/prod/terraform.tfstate", "to_input": None}
    diags = Diagnostics()
    resource.validate(diags, TYPE, {k: v for k, v in good.items() if k not in FRESH and k != "id"})
    assert not diags.diagnostics
    bad = {"from_unit_id": "a//b", "from_output": "", "to_unit_id": "c", "to_input": None}
    resource.validate(diags, TYPE, bad)
    assert [(d.summary, d.path) for d in diags.diagnostics] == [
        ("Invalid unit ID", ["from_unit_id"]),
        ("Empty output name", ["from_output"]),
    ]
