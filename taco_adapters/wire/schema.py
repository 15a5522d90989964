"""JSON Schemas (2020-12, as OpenAPI 3.1 uses them) derived from the wire's
attrs classes, so the published API description is generated from the very
classes the server and its clients share, never written by hand.

``SchemaSet.ref(cls)`` returns a ``$ref`` to the class's schema and files the
schema (and those of the classes it mentions) under its name. A class is
described by its fields' type annotations: ``str``, ``int``, ``float``,
``bool``, ``datetime`` (RFC 3339 text), ``X | None``, lists and tuples,
string-keyed dicts and mappings, ``Literal``, string enums, ``Any``, and
other attrs classes. Fields without a default are required. A field's
``metadata={"schema": {...}}`` adds keywords (a pattern, a minimum, a
description); its docstring-less class's description is the class docstring.

Variants of one class (Terraform's capitalised lock beside the lowercase
one, without our ``owner``; a request form where every field is optional)
are built with ``rename``, ``omit``, ``optional`` and ``open`` under a name
of their own.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

__all__ = ["REF_PREFIX", "SchemaSet"]

REF_PREFIX = "#/components/schemas/"

_SCALARS: dict[object, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    datetime: {"type": "string", "format": "date-time"},
    type(None): {"type": "null"},
    Any: {},
    object: {},
}


class SchemaSet:
    """Named schemas, filled on demand (the ``components.schemas`` of a document)."""

    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, Any]] = {}

    def ref(
        self,
        cls: type,
        *,
        name: str | None = None,
        rename: Mapping[str, str] | None = None,
        omit: Collection[str] = (),
        optional: bool = False,
        open: bool = False,
    ) -> dict[str, Any]:
        """A ``$ref`` to ``cls``'s schema, filed as ``name`` (default: the
        class name). ``rename`` maps field names to the JSON keys used
        instead; ``omit`` leaves fields out; ``optional`` makes every field
        optional; ``open`` allows keys beyond the fields (otherwise
        ``additionalProperties`` is false)."""
        name = name or cls.__name__
        if name not in self.schemas:
            self.schemas[name] = {}  # reserved first: a class may mention itself
            self.schemas[name] = self._object(cls, rename or {}, omit, optional, open)
        return {"$ref": REF_PREFIX + name}

    def of(self, annotation: object) -> dict[str, Any]:
        """The schema of a type annotation (attrs classes by ``$ref``)."""
        if annotation in _SCALARS:
            return dict(_SCALARS[annotation])
        supertype = getattr(annotation, "__supertype__", None)
        if supertype is not None:  # NewType (UnitId)
            return self.of(supertype)
        if isinstance(annotation, type) and attrs.has(annotation):
            return self.ref(annotation)
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return {"type": "string", "enum": [str(m.value) for m in annotation]}
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin in (typing.Union, types.UnionType):
            return _union([self.of(a) for a in args])
        if origin is typing.Literal:
            return {"enum": list(args)}
        if origin in (list, tuple, Sequence, set, frozenset) or (
            isinstance(origin, type) and issubclass(origin, Sequence) and origin is not str
        ):
            if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
                raise TypeError(f"fixed-length tuples have no schema here: {annotation!r}")
            return {"type": "array", "items": self.of(args[0]) if args else {}}
        if origin in (dict, Mapping) or (isinstance(origin, type) and issubclass(origin, Mapping)):
            return {"type": "object", "additionalProperties": self.of(args[1]) if args else {}}
        raise TypeError(f"no JSON Schema for {annotation!r}")

    def _object(
        self,
        cls: type,
        rename: Mapping[str, str],
        omit: Collection[str],
        optional: bool,
        open: bool,
    ) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for a in attrs.fields(cls):
            if a.name in omit:
                continue
            key = rename.get(a.name, a.name)
            prop = self.of(hints[a.name])
            extra = a.metadata.get("schema")
            if extra:
                prop = {**prop, **extra} if "$ref" not in prop else {"allOf": [prop], **extra}
            properties[key] = prop
            if a.default is attrs.NOTHING and not optional:
                required.append(key)
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        if not open:
            schema["additionalProperties"] = False
        if cls.__doc__:
            first = inspect.cleandoc(cls.__doc__).split("\n\n")[0]
            # Docstrings quote code as ``x``; the document's Markdown as `x`.
            schema["description"] = first.replace("\n", " ").replace("``", "`")
        return schema


def _union(members: list[dict[str, Any]]) -> dict[str, Any]:
    """``X | None`` as ``{"type": ["string", "null"]}`` where the members are
    plain types, else ``anyOf``."""
    if all(set(m) == {"type"} and isinstance(m["type"], str) for m in members):
        return {"type": [m["type"] for m in members]}
    return {"anyOf": members}
