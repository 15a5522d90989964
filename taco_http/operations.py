"""How a route module declares the operations it serves, for the API
description (``taco_http.openapi``).

Each route module lists its ``OPERATIONS`` beside its handlers: method,
path template, parameters, request body and answers, each answer's body
named by a class of ``taco_adapters.wire`` (``Json(UnitDoc)``), never by
hand-written JSON Schema. ``tests/http/test_openapi.py`` fails when a route
the app serves has no operation here, or an operation no route.

Every operation also answers its errors with ``ErrorDoc`` (the ``default``
answer) and, unless ``public``, 401 without a credential; those need not be
listed. ``public`` operations need no credential; ``auth_optional`` ones need
one or not depending on a setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from taco_adapters.wire import ErrorDoc
from taco_core.unit_id import MAX_LENGTH


@frozen
class Json:
    """A JSON body shaped by the wire class ``shape`` (an array of them when
    ``many``); ``name``, ``rename``, ``omit``, ``optional`` and ``open``
    describe a variant (``SchemaSet.ref``)."""

    shape: type
    name: str | None = None
    rename: Mapping[str, str] | None = field(default=None, hash=False)
    omit: tuple[str, ...] = ()
    optional: bool = False
    open: bool = False
    many: bool = False


@frozen
class OpaqueJson:
    """A JSON object the service does not shape (a Terraform state, the API
    description itself)."""

    description: str


STATE = OpaqueJson("a Terraform state (JSON object), byte for byte")


@frozen
class Text:
    """A body that is not JSON (``media``: its media type)."""

    media: str
    description: str = ""


Content = Json | OpaqueJson | Text


@frozen
class Param:
    """A path, query or header parameter of type ``kind`` (``str``, ``int``,
    ``bool``), with extra JSON Schema keywords in ``schema``."""

    name: str
    where: str
    description: str
    kind: type = str
    required: bool = False
    schema: Mapping[str, Any] = field(factory=dict, hash=False)


@frozen
class Reply:
    """One answer: its status, when it happens, its body and the response
    headers worth documenting (name -> description)."""

    status: int
    description: str
    content: Content | None = None
    headers: Mapping[str, str] = field(factory=dict, hash=False)


@frozen
class Operation:
    """One method on one path template (OpenAPI syntax: ``/v1/units/{id}``)."""

    method: str
    path: str
    summary: str
    tag: str
    description: str = ""
    params: tuple[Param, ...] = ()
    body: Content | None = None
    body_required: bool = False
    replies: tuple[Reply, ...] = ()
    public: bool = False
    # Served with or without a credential, depending on the server's settings.
    auth_optional: bool = False

    @property
    def operation_id(self) -> str:
        """A stable, unique name: the method and the path's words."""
        words = [
            part.strip("{}").replace("-", "_").replace(".", "_")
            for part in self.path.strip("/").split("/")
            if part not in ("v1", "")
        ]
        return "_".join([self.method.lower(), *words])


# What each error status means, for the answers operations list.
_ERROR_MEANINGS = {
    400: "malformed input; the message names what is wrong",
    403: "the caller may not do this",
    404: "not found",
    405: "the method is not served here",
    409: "conflicts with what is stored",
    413: "too large",
    423: "the unit is locked by someone else; the body names the holder",
    501: "not configured on this server",
    502: "the identity provider could not be reached",
    503: "the storage could not be reached; nothing was changed",
}


def errors(*statuses: int) -> tuple[Reply, ...]:
    """Error answers with ``ErrorDoc`` bodies, for ``replies``."""
    return tuple(error(s, _ERROR_MEANINGS[s]) for s in statuses)


def error(status: int, description: str) -> Reply:
    """One error answer, with an ``ErrorDoc`` body, said in its own words."""
    return Reply(status, description, Json(ErrorDoc, open=True))


def ok(shape: type, description: str = "done", status: int = 200) -> Reply:
    """A success answer with a JSON body of ``shape``."""
    return Reply(status, description, Json(shape))


def ok_list(shape: type, description: str) -> Reply:
    """A success answer with a JSON array of ``shape`` (the RBAC API's listings)."""
    return Reply(200, description, Json(shape, many=True))


# Segments of letters, digits, '.', '_' and '-' joined by single '/'
# (taco_core.unit_id has the rules the pattern cannot say: no '.' or '..'
# segment, '__' only in the reserved prefix).
UNIT_ID_PATTERN = r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$"


def unit_id_param(description: str) -> Param:
    """The unit ID in a path."""
    return Param(
        "id",
        "path",
        description,
        schema={"pattern": UNIT_ID_PATTERN, "minLength": 1, "maxLength": MAX_LENGTH},
    )
