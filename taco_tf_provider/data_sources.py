"""Data sources: a unit, the units under a prefix, a unit's outputs and its status.

A data source that cannot read what it names fails the plan with the
service's message (a missing unit is an error here, unlike for the resource,
because nothing would create it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tf.iface import DataSource, ReadDataContext
from tf.schema import Attribute, Schema
from tf.types import List, Map, Number, String, TfType
from tf.utils import Diagnostics

from taco_core.errors import InvalidInput
from taco_core.graph import Edge
from taco_core.graph_status import UnitStatus
from taco_core.unit_id import UnitId, parse_unit_id
from taco_tf_provider.outputs import CtyType, dynamic, dynamic_object, read_outputs
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


# An incoming edge as ``opentaco_unit_status`` lists it: the status payload's
# fields, with the reference's null for times never set.
_INCOMING_FIELDS = (
    "edge_id",
    "from_unit_id",
    "from_output",
    "status",
    "in_digest",
    "out_digest",
    "last_in_at",
    "last_out_at",
)
INCOMING_TYPE: CtyType = ["list", ["object", dict.fromkeys(_INCOMING_FIELDS, "string")]]


def incoming_value(edge: Edge) -> dict[str, str | None]:
    return {
        "edge_id": edge.id,
        "from_unit_id": edge.from_unit_id,
        "from_output": edge.from_output,
        "status": edge.status,
        "in_digest": edge.in_digest,
        "out_digest": edge.out_digest,
        "last_in_at": edge.last_in_at or None,
        "last_out_at": edge.last_out_at or None,
    }


def status_attributes(status: UnitStatus) -> State:
    """The computed attributes of ``opentaco_unit_status`` for ``status``."""
    incoming = [incoming_value(e) for e in status.incoming or ()]
    return {
        "status": status.status.value,
        "offender": status.offender,
        "incoming_ok": status.summary.incoming_ok,
        "incoming_pending": status.summary.incoming_pending,
        "incoming_unknown": status.summary.incoming_unknown,
        "incoming": dynamic(INCOMING_TYPE, incoming),
    }


class UnitStatusData(DataSource):
    """``data "opentaco_unit_status"``: whether a unit needs re-applying."""

    def __init__(self, provider: OpenTacoProvider) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "unit_status"

    @classmethod
    def get_schema(cls) -> Schema:
        def count(name: str, what: str) -> Attribute:
            return Attribute(name, Number(), description=what, computed=True)

        return Schema(
            description="Reads a unit's status in the dependency graph: whether the "
            "outputs it consumes changed since it was last applied.",
            attributes=[
                Attribute("unit_id", String(), description="Unit ID.", required=True),
                Attribute(
                    "status",
                    String(),
                    description="`green` (up to date), `red` (an output it consumes "
                    "changed: re-apply it) or `yellow` (downstream of a red unit).",
                    computed=True,
                ),
                Attribute(
                    "offender",
                    String(),
                    description="The unit to look at first (null when green): the source "
                    "of a red unit's first pending edge, the red unit upstream of a yellow one.",
                    computed=True,
                ),
                count("incoming_ok", "Incoming edges whose output the unit has applied."),
                count("incoming_pending", "Incoming edges whose output changed since."),
                count("incoming_unknown", "Incoming edges whose output is not known."),
                Attribute(
                    "incoming",
                    Dynamic(),
                    description="The incoming edges, pending first: objects with `edge_id`, "
                    "`from_unit_id`, `from_output`, `status`, `in_digest`, `out_digest`, "
                    "`last_in_at`, `last_out_at` (digests are empty unless the token may "
                    "read the source's whole state).",
                    computed=True,
                ),
            ],
        )

    def validate(self, diags: Diagnostics, type_name: str, config: State) -> None:
        super().validate(diags, type_name, config)
        _check_unit_id(diags, config, "unit_id")

    def read(self, ctx: ReadDataContext, config: State) -> State | None:
        unit_id = UnitId(config.get("unit_id") or "")
        with self.provider.reporter(ctx.diagnostics, f'read the status of unit "{unit_id}"'):
            status = self.provider.session.call(lambda c: c.unit_status(unit_id))
            return {"unit_id": unit_id, **status_attributes(status)}
        return None
