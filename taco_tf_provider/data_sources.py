"""Data sources: a unit, the units under a prefix, and a unit's outputs.

A data source that cannot read what it names fails the plan with the
service's message (a missing unit is an error here, unlike for the resource,
because nothing would create it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tf.iface import DataSource, ReadDataContext
from tf.schema import Attribute, Schema
from tf.types import List, Map, String, TfType
from tf.utils import Diagnostics

from taco_core.errors import InvalidInput
from taco_core.unit_id import UnitId, parse_unit_id
from taco_tf_provider.outputs import dynamic_object, read_outputs
from taco_tf_provider.shapes import unit_attributes, unit_schema

if TYPE_CHECKING:
    from taco_tf_provider.provider import OpenTacoProvider

State = dict[str, Any]


class Dynamic(TfType):
    """Terraform's ``any`` type (``DynamicPseudoType``): the value carries its type."""

    def encode(self, value: Any) -> Any:
        return value

    def decode(self, value: Any) -> Any:
        return value

    def tf_type(self) -> bytes:
        return b'"dynamic"'


def _check_unit_id(diags: Diagnostics, config: State, name: str) -> None:
    raw = config.get(name)
    if isinstance(raw, str):
        try:
            parse_unit_id(raw)
        except InvalidInput as exc:
            diags.add_error("Invalid unit ID", exc.message, path=[name])


class UnitData(DataSource):
    """``data "opentaco_unit"``: one unit's attributes."""

    def __init__(self, provider: OpenTacoProvider) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "unit"

    @classmethod
    def get_schema(cls) -> Schema:
        return Schema(
            description="Reads a unit.",
            attributes=[
                Attribute("id", String(), description="Unit ID.", required=True),
                Attribute("labels", Map(String()), description="Labels.", computed=True),
                *unit_schema(),
                Attribute(
                    "lock_id",
                    String(),
                    description='ID of the lock holding the unit, `""` when it is not locked.',
                    computed=True,
                ),
            ],
        )

    def validate(self, diags: Diagnostics, type_name: str, config: State) -> None:
        super().validate(diags, type_name, config)
        _check_unit_id(diags, config, "id")

    def read(self, ctx: ReadDataContext, config: State) -> State | None:
        unit_id = UnitId(config.get("id") or "")
        with self.provider.reporter(ctx.diagnostics, f'read unit "{unit_id}"'):
            unit = self.provider.session.call(lambda c: c.get_unit(unit_id))
            return {
                "id": unit_id,
                "labels": dict(unit.labels),
                **unit_attributes(unit),
                "lock_id": unit.lock.id if unit.lock is not None else "",
            }
        return None


class UnitsData(DataSource):
    """``data "opentaco_units"``: the IDs of the units under a prefix."""

    def __init__(self, provider: OpenTacoProvider) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "units"

    @classmethod
    def get_schema(cls) -> Schema:
        return Schema(
            description="Lists the IDs of the units whose ID starts with `prefix`.",
            attributes=[
                Attribute(
                    "prefix",
                    String(),
                    description="Only IDs starting with this text (plain text, not a "
                    "path: `myapp/` lists `myapp/prod`, `myapp` lists `myapp2` too). "
                    "Default: every unit.",
                    optional=True,
                ),
                Attribute("ids", List(String()), description="Unit IDs, sorted.", computed=True),
            ],
        )

    def read(self, ctx: ReadDataContext, config: State) -> State | None:
        prefix = config.get("prefix")
        where = f'under "{prefix}"' if prefix else "(all)"
        with self.provider.reporter(ctx.diagnostics, f"list units {where}"):
            units = self.provider.session.call(lambda c: c.list_units(prefix or ""))
            return {"prefix": prefix, "ids": [u.id for u in units]}
        return None


class OutputsData(DataSource):
    """``data "opentaco_outputs"``: the outputs of a unit's current state."""

    def __init__(self, provider: OpenTacoProvider) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "outputs"

    @classmethod
    def get_schema(cls) -> Schema:
        return Schema(
            description="Reads the outputs of a unit's current state, like "
            "`terraform_remote_state` without backend credentials in the configuration.",
            attributes=[
                Attribute("unit_id", String(), description="Unit ID.", required=True),
                Attribute(
                    "values",
                    Dynamic(),
                    description="Every output, by name (sensitive: use `nonsensitive_values` "
                    "for the outputs that are not).",
                    computed=True,
                    sensitive=True,
                ),
                Attribute(
                    "nonsensitive_values",
                    Dynamic(),
                    description="The outputs not marked sensitive, by name.",
                    computed=True,
                ),
            ],
        )

    def validate(self, diags: Diagnostics, type_name: str, config: State) -> None:
        super().validate(diags, type_name, config)
        _check_unit_id(diags, config, "unit_id")

    def read(self, ctx: ReadDataContext, config: State) -> State | None:
        unit_id = UnitId(config.get("unit_id") or "")
        with self.provider.reporter(ctx.diagnostics, f'read the outputs of unit "{unit_id}"'):
            found = self.provider.session.call(lambda c: c.download(unit_id))
            outputs = read_outputs(found[1] if found is not None else None)
            public = {name: o for name, o in outputs.items() if not o.sensitive}
            return {
                "unit_id": unit_id,
                "values": dynamic_object(outputs),
                "nonsensitive_values": dynamic_object(public),
            }
        return None
