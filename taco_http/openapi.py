"""The API description, OpenAPI 3.1, served at ``GET /v1/openapi.json``.

Assembled from the operations the route modules declare
(``taco_http.operations``) and the JSON Schemas of the wire classes they
name (``taco_adapters.wire.SchemaSet``): nothing in it is written by hand, so
it cannot drift from the handlers without a test failing
(``tests/http/test_openapi.py``), and the fuzz run (``tests/http/test_fuzz.py``)
sends what it describes to every operation.

Terraform's backend uses the methods LOCK and UNLOCK, which OpenAPI 3.1 has
no field for; they are under the path item's ``x-additionalOperations``, the
shape OpenAPI 3.2 standardises as ``additionalOperations``.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from taco_adapters.wire import ErrorDoc, SchemaSet
from taco_http.operations import Content, Json, OpaqueJson, Operation, Param, Reply, Text

OPENAPI_VERSION = "3.1.0"
REQUEST_ID_HEADER = "X-Request-ID"
_STANDARD_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

_INFO_DESCRIPTION = """\
OpenTaco: a self-hosted control plane for Terraform/OpenTofu state: Terraform's HTTP
backend, the management API over units (states), their locks and history, API tokens and
logins, authorization (RBAC: roles, permissions, assignments), the audit trail, metrics and
probes.

A caller the server knows but may not do something gets 403 (`permission_denied`, naming
the action, the unit and why); every operation may answer it.

Every operation accepts `X-Request-ID` (1 to 128 characters of letters, digits and
`._:-+=@/`; another value is replaced) and answers with the request's ID in the same
header; the ID is in every log line and audit record about the request. Errors are JSON
`{"error", "kind", ...data}` (`ErrorDoc`).
"""


def _version() -> str:
    try:
        return importlib.metadata.version("opentaco")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def openapi_document(operations: Iterable[Operation]) -> dict[str, Any]:
    """The OpenAPI 3.1 document describing ``operations``."""
    schemas = SchemaSet()
    error = schemas.ref(ErrorDoc, open=True)
    paths: dict[str, dict[str, Any]] = {}
    tags: list[str] = []
    for op in operations:
        if op.tag not in tags:
            tags.append(op.tag)
        item = paths.setdefault(op.path, {})
        described = _operation(op, schemas, error)
        method = op.method.lower()
        if method in _STANDARD_METHODS:
            item[method] = described
        else:
            item.setdefault("x-additionalOperations", {})[op.method.upper()] = described
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "OpenTaco",
            "version": _version(),
            "description": _INFO_DESCRIPTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [{"name": t} for t in tags],
        "paths": paths,
        "components": {
            "schemas": schemas.schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an access token (JWT) or an API token (`otc_...`)",
                },
                "basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "any user name, an API token as the password (Terraform)",
                },
            },
            "parameters": {
                "RequestId": {
                    "name": REQUEST_ID_HEADER,
                    "in": "header",
                    "required": False,
                    "description": "the request's ID, echoed in the answer and in the logs",
                    "schema": {"type": "string", "maxLength": 128},
                }
            },
            "headers": {
                "RequestId": {
                    "description": "the request's ID (the one sent, if valid, else a new one)",
                    "schema": {"type": "string"},
                }
            },
        },
        "security": [{"bearer": []}, {"basic": []}],
    }


def _operation(op: Operation, schemas: SchemaSet, error: dict[str, Any]) -> dict[str, Any]:
    described: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": [
            *(_param(p, schemas) for p in op.params),
            {"$ref": "#/components/parameters/RequestId"},
        ],
        "responses": {str(r.status): _reply(r, schemas) for r in op.replies},
    }
    if op.description:
        described["description"] = op.description
    if op.body is not None:
        described["requestBody"] = {
            "required": op.body_required,
            "content": _content(op.body, schemas),
        }
    responses = described["responses"]
    if not op.public and "401" not in responses:
        responses["401"] = _reply(
            Reply(401, "no valid credential (missing, expired, revoked, forged)"), schemas
        )
        responses["401"]["content"] = {"application/json": {"schema": error}}
    responses["default"] = {
        "description": "an error; the body says what is wrong and how to fix it",
        "headers": {REQUEST_ID_HEADER: {"$ref": "#/components/headers/RequestId"}},
        "content": {"application/json": {"schema": error}},
    }
    if op.public:
        described["security"] = []
    elif op.auth_optional:
        described["security"] = [{}, {"bearer": []}, {"basic": []}]
    return described


def _param(p: Param, schemas: SchemaSet) -> dict[str, Any]:
    return {
        "name": p.name,
        "in": p.where,
        "required": p.required or p.where == "path",
        "description": p.description,
        "schema": {**schemas.of(p.kind), **p.schema},
    }


def _reply(r: Reply, schemas: SchemaSet) -> dict[str, Any]:
    headers: dict[str, Any] = {REQUEST_ID_HEADER: {"$ref": "#/components/headers/RequestId"}}
    headers.update(
        {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in r.headers.items()
        }
    )
    described: dict[str, Any] = {"description": r.description, "headers": headers}
    if r.content is not None:
        described["content"] = _content(r.content, schemas)
    return described


def _content(content: Content, schemas: SchemaSet) -> dict[str, Any]:
    if isinstance(content, Json):
        schema = schemas.ref(
            content.shape,
            name=content.name,
            rename=content.rename,
            omit=content.omit,
            optional=content.optional,
            open=content.open,
        )
        if content.many:
            schema = {"type": "array", "items": schema}
        return {"application/json": {"schema": schema}}
    if isinstance(content, OpaqueJson):
        return {
            "application/json": {"schema": {"type": "object", "description": content.description}}
        }
    assert isinstance(content, Text)
    return {content.media: {"schema": {"type": "string"}}}


def endpoint(operations: Iterable[Operation]) -> Callable[[Request], Awaitable[Response]]:
    """The handler of ``GET /v1/openapi.json``: the document, built once."""
    document: dict[str, Any] = {}
    listed = tuple(operations)

    async def openapi_json(request: Request) -> Response:
        if not document:
            document.update(openapi_document(listed))
        return JSONResponse(document)

    return openapi_json


OPERATIONS = (
    Operation(
        "GET",
        "/v1/openapi.json",
        "This description of the API (OpenAPI 3.1)",
        "service",
        replies=(Reply(200, "the OpenAPI document", OpaqueJson("an OpenAPI 3.1 document")),),
        public=True,
    ),
)
