"""``opentaco_unit``: a unit managed by Terraform.

``id`` names the unit and cannot change (a new ID is a new unit); ``labels`` are
sent at creation and changed in place. ``size``, ``updated`` and ``locked``
describe the unit as the service reports it. A unit deleted behind Terraform's
back drops out of the state on refresh, so the next plan creates it again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tf.iface import (
    CreateContext,
    DeleteContext,
    ImportContext,
    ReadContext,
    Resource,
    UpdateContext,
    UpgradeContext,
)
from tf.schema import Attribute, Schema
from tf.types import Map, String, Unknown
from tf.utils import Diagnostics

from taco_core.errors import InvalidInput, InvalidUnitId, UnitNotFound
from taco_core.unit_id import UnitId, parse_user_unit_id
from taco_tf_provider.shapes import labels_value, unit_attributes, unit_schema

if TYPE_CHECKING:
    from taco_tf_provider.provider import OpenTacoProvider

State = dict[str, Any]


class UnitResource(Resource):
    def __init__(self, provider: OpenTacoProvider) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "unit"

    @classmethod
    def get_schema(cls) -> Schema:
        return Schema(
            version=0,
            description="A unit: one Terraform state on the OpenTaco server, with its "
            "lock, history and labels.",
            attributes=[
                Attribute(
                    "id",
                    String(),
                    description="Unit ID, e.g. `myapp/prod`. Changing it replaces the unit.",
                    required=True,
                    requires_replace=True,
                ),
                Attribute(
                    "labels",
                    Map(String()),
                    description="Labels of the unit; changed in place.",
                    optional=True,
                ),
                *unit_schema(),
            ],
        )

    def validate(self, diags: Diagnostics, type_name: str, config: State) -> None:
        super().validate(diags, type_name, config)
        raw = config.get("id")
        if isinstance(raw, str):
            try:
                parse_user_unit_id(raw)
            except InvalidInput as exc:
                diags.add_error("Invalid unit ID", exc.message, path=["id"])

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        with self.provider.reporter(ctx.diagnostics, f'create unit "{planned.get("id")}"'):
            unit_id, labels = _unit_id(planned), planned.get("labels")
            unit = self.provider.session.call(lambda c: c.create_unit(unit_id, labels or {}))
            return {"id": unit_id, "labels": labels, **unit_attributes(unit)}
        return None

    def read(self, ctx: ReadContext, current: State) -> State | None:
        with self.provider.reporter(ctx.diagnostics, f'read unit "{current.get("id")}"'):
            unit_id = _unit_id(current)
            try:
                unit = self.provider.session.call(lambda c: c.get_unit(unit_id))
            except UnitNotFound:
                return None  # deleted out of band: the next plan creates it again
            labels = labels_value(unit, current.get("labels"))
            return {"id": unit_id, "labels": labels, **unit_attributes(unit)}
        return current

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State | None:
        action = f'update the labels of unit "{planned.get("id")}"'
        with self.provider.reporter(ctx.diagnostics, action):
            unit_id = _unit_id(planned)
            changes = label_changes(current.get("labels") or {}, planned.get("labels") or {})
            if not changes:
                return planned
            unit = self.provider.session.call(lambda c: c.update_labels(unit_id, changes))
            # The plan promised the computed values it showed; fresh ones arrive on refresh.
            fresh = unit_attributes(unit)
            return {k: fresh.get(k) if v is Unknown else v for k, v in planned.items()}
        return current

    def delete(self, ctx: DeleteContext, current: State) -> State | None:
        with self.provider.reporter(ctx.diagnostics, f'delete unit "{current.get("id")}"'):
            unit_id = _unit_id(current)
            with contextlib.suppress(UnitNotFound):  # already gone: what was asked
                self.provider.session.call(lambda c: c.delete_unit(unit_id))
            return None
        return current  # still there: Terraform keeps it in the state

    def import_(self, ctx: ImportContext, id: str) -> State | None:
        try:
            unit_id = parse_user_unit_id(id)
        except InvalidInput as exc:
            ctx.diagnostics.add_error("Invalid unit ID", exc.message)
            return None
        # Terraform reads the unit next, which fills in the rest (or says it does not exist).
        return {"id": unit_id, "labels": None, "size": None, "updated": None, "locked": None}

    def upgrade(self, ctx: UpgradeContext, version: int, old: State) -> State | None:
        return old


def label_changes(old: Mapping[str, str], new: Mapping[str, str]) -> dict[str, str | None]:
    """What turns labels ``old`` into ``new``: the keys to set and, as ``None``,
    those to remove. Only the differences are sent, so a label someone else
    changed between plan and apply, on a key the plan leaves as it was, stays."""
    changes: dict[str, str | None] = {k: v for k, v in new.items() if old.get(k) != v}
    changes.update((k, None) for k in old if k not in new)
    return changes


def _unit_id(state: State) -> UnitId:
    """The ``id`` of a plan or state (required, so always there once known)."""
    value = state.get("id")
    if not isinstance(value, str):
        raise InvalidUnitId(f"unit ID must be a known string, got {value!r}")
    return UnitId(value)
