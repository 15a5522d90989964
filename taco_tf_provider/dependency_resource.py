"""``opentaco_dependency``: an edge of the dependency graph, kept in Terraform's state.

The graph lives in the state of the configuration that declares the edges (the
system unit's, as ``taco provider init`` sets it up), where the service reads
it and records, per edge, the digest of the output it last saw change
(``in_digest``) and the digest the consumer last applied (``out_digest``),
with ``status`` and the times. The provider makes no calls: creating an edge
writes it with empty digests and status ``unknown``, and reading one returns
the state as it is, which is how the service's edits reach Terraform.

The four attributes that say what the edge connects force a new edge when they
change, because they are its identity: its ``id`` is derived from them by the
core's rule (``taco_core.digest.edge_id``, the reference provider's bit for
bit). That also lets ``to_input`` follow ``from_output`` when it is left out:
a replacement is planned from the configuration alone, where the argument is
absent, rather than from the old state, where it holds the old default. Unit
IDs are validated as the service will read them (``taco_core.graph``).
"""

from __future__ import annotations

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
from tf.types import String, Unknown
from tf.utils import Diagnostics

from taco_core.digest import edge_id
from taco_core.errors import InvalidInput
from taco_core.graph import EdgeStatus, normalize_edge_unit_id
from taco_core.unit_id import parse_unit_id

if TYPE_CHECKING:
    from taco_tf_provider.provider import OpenTacoProvider

State = dict[str, Any]

# What the service has seen of a new edge: nothing. Also the plan's values for them.
FRESH: State = {
    "in_digest": "",
    "out_digest": "",
    "status": EdgeStatus.UNKNOWN.value,
    "last_in_at": None,
    "last_out_at": None,
}
_EDGE_FIELDS = ("from_unit_id", "from_output", "to_unit_id", "to_input")
_ENDS = ("from_unit_id", "to_unit_id")
_IMPORT_FORM = "FROM_UNIT_ID,FROM_OUTPUT,TO_UNIT_ID[,TO_INPUT]"


def _computed(name: str, description: str) -> Attribute:
    """A computed attribute, planned as a new edge's value (``id``: known after apply)."""
    default = FRESH.get(name, Unknown)
    return Attribute(name, String(), description=description, computed=True, default=default)


class DependencyResource(Resource):
    def __init__(self, provider: OpenTacoProvider) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "dependency"

    @classmethod
    def get_schema(cls) -> Schema:
        return Schema(
            version=0,
            description="An edge of the dependency graph: output `from_output` of unit "
            "`from_unit_id` feeds input `to_input` of unit `to_unit_id`.",
            attributes=[
                _computed("id", "Edge ID, derived from the four attributes it connects."),
                Attribute(
                    "from_unit_id",
                    String(),
                    description="Unit whose output is consumed.",
                    required=True,
                    requires_replace=True,
                ),
                Attribute(
                    "from_output",
                    String(),
                    description="Name of that unit's output.",
                    required=True,
                    requires_replace=True,
                ),
                Attribute(
                    "to_unit_id",
                    String(),
                    description="Unit that consumes the output.",
                    required=True,
                    requires_replace=True,
                ),
                Attribute(
                    "to_input",
                    String(),
                    description="Name of the input it feeds. Default: `from_output`.",
                    optional=True,
                    computed=True,
                    requires_replace=True,
                ),
                _computed("in_digest", "Digest of the output as last seen (service)."),
                _computed("out_digest", "Digest the consumer last applied (service)."),
                _computed("status", "`ok`, `pending` or `unknown` (service)."),
                _computed("last_in_at", "When the output last changed (service)."),
                _computed("last_out_at", "When the consumer last caught up (service)."),
            ],
        )

    def validate(self, diags: Diagnostics, type_name: str, config: State) -> None:
        super().validate(diags, type_name, config)
        for name in _ENDS:
            raw = config.get(name)
            if isinstance(raw, str):
                try:
                    parse_unit_id(normalize_edge_unit_id(raw))
                except InvalidInput as exc:
                    diags.add_error("Invalid unit ID", exc.message, path=[name])
        for name in ("from_output", "to_input"):
            if config.get(name) == "":
                diags.add_error("Empty output name", f"{name} must not be empty", path=[name])

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        with self.provider.reporter(ctx.diagnostics, "create a dependency"):
            return new_edge(
                planned["from_unit_id"],
                planned["from_output"],
                planned["to_unit_id"],
                planned.get("to_input"),
            )
        return None

    def read(self, ctx: ReadContext, current: State) -> State | None:
        return current  # as the service left it

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State | None:
        with self.provider.reporter(ctx.diagnostics, "update a dependency"):
            to_input = planned.get("to_input")
            if not isinstance(to_input, str):
                to_input = planned["from_output"]
            ident = edge_id(
                planned["from_unit_id"], planned["from_output"], planned["to_unit_id"], to_input
            )
            carried = {k: current.get(k) for k in FRESH}
            return {**planned, "id": ident, "to_input": to_input, **carried}
        return current

    def delete(self, ctx: DeleteContext, current: State) -> State | None:
        return None

    def import_(self, ctx: ImportContext, id: str) -> State | None:
        """``FROM_UNIT_ID,FROM_OUTPUT,TO_UNIT_ID[,TO_INPUT]`` imports the whole edge;
        a bare edge ID (the reference's form) imports only the ID, and the next
        apply fills in the rest from the configuration."""
        parts = id.split(",")
        if len(parts) == 1 and id.strip():
            return {"id": id.strip(), **dict.fromkeys(_EDGE_FIELDS), **FRESH}
        if len(parts) not in (3, 4) or not all(p.strip() for p in parts):
            ctx.diagnostics.add_error(
                "Invalid import ID for opentaco_dependency",
                f"expected {_IMPORT_FORM} (or an edge ID), got {id!r}",
            )
            return None
        from_unit, from_output, to_unit, *rest = (p.strip() for p in parts)
        return new_edge(from_unit, from_output, to_unit, rest[0] if rest else None)

    def upgrade(self, ctx: UpgradeContext, version: int, old: State) -> State | None:
        return old


def new_edge(from_unit: str, from_output: str, to_unit: str, to_input: str | None) -> State:
    """A new edge's state: ``to_input`` defaulted, ``id`` derived, nothing seen yet."""
    if not isinstance(to_input, str):
        to_input = from_output
    return {
        "id": edge_id(from_unit, from_output, to_unit, to_input),
        "from_unit_id": from_unit,
        "from_output": from_output,
        "to_unit_id": to_unit,
        "to_input": to_input,
        **FRESH,
    }
