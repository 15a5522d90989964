"""The Terraform-Cloud-compatible API's JSON:API shapes, as Terraform reads them.

What real Terraform 1.0 (go-tfe 0.15, ``backend "remote"``) and 1.15 (go-tfe
1.105, ``cloud {}``) read decides the attributes: a workspace always says
``execution-mode: local`` and ``operations: false`` (so runs stay local),
echoes the client's Terraform version (its version check then passes), and
carries ``permissions`` (1.15 crashes deleting a workspace without them) and
``tag-names`` (1.15 re-tags on every command when a tag is missing).
Everything is rendered from the core's objects; request bodies are read with
the small typed getters at the end, which raise ``InvalidInput`` naming the
JSON:API member that is wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from attrs import frozen

from taco_adapters.wire.converter import rfc3339
from taco_adapters.wire.tfe_ids import (
    OutputRef,
    StateVersionRef,
    Workspace,
    output_id,
    state_version_id,
)
from taco_core.auth import Principal, PrincipalKind
from taco_core.errors import InvalidInput
from taco_core.model import StateVersion, Unit

JSONAPI = "application/vnd.api+json"
# The API version Terraform's ``cloud`` block requires at least (in the ping's
# TFP-API-Version header); older values make it refuse the host.
API_VERSION = "2.5"

# A workspace's permissions as the client sees them: what it may attempt.
# The server decides each request on its own (RBAC), so these only steer the
# client: no remote runs (``can-queue-run``), and deletion by
# ``safe-delete`` (``can-force-delete`` present).
WORKSPACE_PERMISSIONS = {
    "can-update": True,
    "can-destroy": True,
    "can-force-delete": True,
    "can-lock": True,
    "can-unlock": True,
    "can-force-unlock": True,
    "can-read-settings": True,
    "can-read-state-versions": True,
    "can-read-state-outputs": True,
    "can-create-state-versions": True,
    "can-queue-run": False,
    "can-queue-apply": False,
    "can-queue-destroy": False,
    "can-read-variable": False,
    "can-update-variable": False,
}


def _resource(
    kind: str,
    ident: str,
    attributes: Mapping[str, Any],
    relationships: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": ident, "type": kind, "attributes": dict(attributes)}
    if relationships:
        doc["relationships"] = dict(relationships)
    return doc


def _ref(kind: str, ident: str) -> dict[str, Any]:
    return {"data": {"id": ident, "type": kind}}


def document(data: Any, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A JSON:API top-level document."""
    doc: dict[str, Any] = {"data": data}
    if meta:
        doc["meta"] = dict(meta)
    return doc


def errors_document(status: int, title: str, detail: str) -> dict[str, Any]:
    """The error shape Terraform prints as ``title`` and ``detail``."""
    return {"errors": [{"status": str(status), "title": title, "detail": detail}]}


# -- pagination ---------------------------------------------------------------------


@frozen
class Page:
    """Which page of a listing was asked for (``page[number]``, ``page[size]``)."""

    number: int = 1
    size: int = 20

    def of(self, items: Sequence[Any]) -> tuple[Sequence[Any], dict[str, Any]]:
        """The slice of ``items`` on this page and the ``meta.pagination``
        member Terraform follows (``current-page`` until ``total-pages``)."""
        total = len(items)
        pages = max(1, -(-total // self.size))
        start = (self.number - 1) * self.size
        return items[start : start + self.size], {
            "pagination": {
                "current-page": self.number,
                "page-size": self.size,
                "prev-page": self.number - 1 if self.number > 1 else None,
                "next-page": self.number + 1 if self.number < pages else None,
                "total-pages": pages,
                "total-count": total,
            }
        }


MAX_PAGE_SIZE = 100


def page_of(query: Mapping[str, str]) -> Page:
    """The page a query asks for; ``InvalidInput`` for a bad number or size."""

    def number(key: str, default: int, top: int) -> int:
        raw = query.get(key, "")
        if raw == "":
            return default
        if not raw.isdigit() or not 1 <= int(raw) <= top:
            raise InvalidInput(f"{key} must be a whole number from 1 to {top}")
        return int(raw)

    return Page(
        number=number("page[number]", 1, 10**9),
        size=number("page[size]", 20, MAX_PAGE_SIZE),
    )


# -- resources ----------------------------------------------------------------------


def workspace_json(
    ws: Workspace, unit: Unit, *, terraform_version: str, base_url: str
) -> dict[str, Any]:
    """A workspace resource for ``unit``: its tags are the unit's labels
    (``tag-names`` their keys), its lock is the unit's lock."""
    relationships: dict[str, Any] = {
        "organization": _ref("organizations", ws.organization),
    }
    if unit.head is not None:
        current = state_version_id(StateVersionRef(ws, number=unit.head))
        relationships["current-state-version"] = _ref("state-versions", current)
    created = rfc3339(unit.created)
    return _resource(
        "workspaces",
        ws.id,
        {
            "name": ws.name,
            "description": "",
            "environment": "default",
            "execution-mode": "local",
            "operations": False,
            "auto-apply": False,
            "locked": unit.locked,
            "terraform-version": terraform_version,
            "working-directory": "",
            "global-remote-state": True,
            "queue-all-runs": False,
            "speculative-enabled": False,
            "structured-run-output-enabled": False,
            "source": "tfe-api",
            "tag-names": sorted(unit.labels),
            "created-at": created,
            "updated-at": rfc3339(unit.updated),
            "latest-change-at": rfc3339(unit.updated),
            "permissions": dict(WORKSPACE_PERMISSIONS),
            "actions": {"is-destroyable": True},
        },
        {
            **relationships,
            "current-run": {"data": None},
        },
    ) | {"links": {"self": f"{base_url}/workspaces/{ws.id}"}}


def tag_bindings_json(labels: Mapping[str, str]) -> dict[str, Any]:
    """A workspace's labels as its tag bindings (key and value)."""
    return document(
        [
            {"type": "tag-bindings", "attributes": {"key": key, "value": value}}
            for key, value in sorted(labels.items())
        ]
    )


def tags_json(labels: Mapping[str, str]) -> dict[str, Any]:
    """A workspace's labels as the older plain tags (names only)."""
    return document(
        [
            {"id": f"tag-{key}", "type": "tags", "attributes": {"name": key}}
            for key in sorted(labels)
        ]
    )


def state_version_json(
    ref: StateVersionRef,
    version: StateVersion | None,
    *,
    base_url: str,
    upload_url: str = "",
    json_upload_url: str = "",
) -> dict[str, Any]:
    """A state version resource: a stored ``version``, or (``version`` None) one
    announced and waiting for its bytes at the upload URLs."""
    ident = state_version_id(ref)
    attributes: dict[str, Any] = {
        "status": "finalized" if version is not None else "pending",
        "hosted-state-download-url": f"{base_url}/state-versions/{ident}/download",
        "hosted-json-state-download-url": None,
        "resources-processed": version is not None,
        "state-version": 4,
        "intermediate": False,
        "vcs-commit-sha": None,
        "vcs-commit-url": None,
    }
    if version is not None:
        attributes.update(
            {
                "created-at": rfc3339(version.created),
                "serial": version.serial,
                "lineage": version.lineage,
                "md5": version.md5,
                "size": version.size,
            }
        )
    if upload_url:
        attributes["hosted-state-upload-url"] = upload_url
        attributes["hosted-json-state-upload-url"] = json_upload_url
    return _resource(
        "state-versions",
        ident,
        attributes,
        {"workspace": _ref("workspaces", ref.workspace.id)},
    ) | {"links": {"self": f"{base_url}/state-versions/{ident}"}}


def _simple_type(value: Any) -> str:
    """The JSON kind of an output value, as TFE's ``type`` attribute names it."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def output_json(ref: OutputRef, output: Mapping[str, Any], *, reveal: bool) -> dict[str, Any]:
    """A state version output; a sensitive value is null unless ``reveal``
    (the list hides it, the output's own URL shows it)."""
    sensitive = bool(output.get("sensitive"))
    value = output.get("value")
    return _resource(
        "state-version-outputs",
        output_id(ref),
        {
            "name": ref.name,
            "sensitive": sensitive,
            "type": _simple_type(value),
            "value": value if reveal or not sensitive else None,
            "detailed-type": output.get("type"),
        },
    )


def outputs_json(
    refs_and_outputs: Iterable[tuple[OutputRef, Mapping[str, Any]]],
) -> dict[str, Any]:
    """Every output of a version in one page (Terraform reads only the first)."""
    items = [output_json(ref, out, reveal=False) for ref, out in refs_and_outputs]
    return document(
        items,
        {
            "pagination": {
                "current-page": 1,
                "page-size": max(1, len(items)),
                "prev-page": None,
                "next-page": None,
                "total-pages": 1,
                "total-count": len(items),
            }
        },
    )


def entitlements_json(organization: str) -> dict[str, Any]:
    """State storage only: ``operations: false`` makes Terraform run every
    plan and apply locally, whatever the workspace says."""
    return document(
        _resource(
            "entitlement-sets",
            f"org-{organization}",
            {
                "operations": False,
                "state-storage": True,
                "private-module-registry": False,
                "sentinel": False,
                "teams": False,
                "vcs-integrations": False,
                "cost-estimation": False,
                "audit-logging": False,
                "agents": False,
                "sso": False,
            },
        )
    )


def organization_json(
    name: str, *, created: datetime | None, external_id: str = ""
) -> dict[str, Any]:
    """An organization resource (its ID is its name, as in Terraform Cloud)."""
    attributes: dict[str, Any] = {
        "name": name,
        "external-id": external_id or f"org-{name}",
        "email": "",
        "default-execution-mode": "local",
        "cost-estimation-enabled": False,
        "saml-enabled": False,
        "collaborator-auth-policy": "password",
        "permissions": {
            "can-create-workspace": True,
            "can-update": False,
            "can-destroy": False,
            "can-manage-tags": True,
        },
    }
    if created is not None:
        attributes["created-at"] = rfc3339(created)
    return _resource("organizations", name, attributes)


def user_id(principal: Principal) -> str:
    """A user ID in go-tfe's character set for any subject (subjects may hold
    ``|``, ``@`` ...): a digest of the kind and subject."""
    digest = hashlib.sha256(f"{principal.kind}:{principal.subject}".encode()).hexdigest()
    return f"user-{digest[:16]}"


def account_json(principal: Principal) -> dict[str, Any]:
    """The calling principal as the ``users`` resource of ``account/details``."""
    return document(
        _resource(
            "users",
            user_id(principal),
            {
                "username": principal.subject,
                "email": principal.email,
                "is-service-account": principal.kind is PrincipalKind.API_TOKEN,
                "auth-method": "tfe",
                "avatar-url": "",
                "v2-only": True,
                "permissions": {"can-create-organizations": False, "can-change-email": False},
            },
        )
    )


# -- reading requests ---------------------------------------------------------------


def data_of(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``data`` member, an object (``{}`` when absent or null)."""
    data = doc.get("data")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput("JSON:API member 'data' must be an object")
    return data


def data_list(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``data`` member, a list of objects."""
    data = doc.get("data")
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise InvalidInput("JSON:API member 'data' must be a list of objects")
    return data


def attributes_of(data: Mapping[str, Any]) -> Mapping[str, Any]:
    attributes = data.get("attributes")
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise InvalidInput("JSON:API member 'data.attributes' must be an object")
    return attributes


def text(attributes: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = attributes.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"attribute {key!r} is required")
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"attribute {key!r} must be a string")
    return value


def integer(attributes: Mapping[str, Any], key: str) -> int | None:
    value = attributes.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"attribute {key!r} must be an integer")
    return value


def flag(attributes: Mapping[str, Any], key: str) -> bool:
    value = attributes.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidInput(f"attribute {key!r} must be true or false")
    return value


def base64_bytes(attributes: Mapping[str, Any], key: str) -> bytes | None:
    """A base64 attribute, decoded; ``None`` when absent."""
    value = text(attributes, key)
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"attribute {key!r} is not valid base64") from None


def tags_requested(data: Mapping[str, Any]) -> dict[str, str]:
    """The tags a workspace is created with: ``relationships.tags`` (plain
    names), ``relationships.tag-bindings`` (key and value) and the older
    ``attributes.tag-names``, as labels (a plain tag has the value "")."""
    wanted: dict[str, str] = {}
    for name in _string_list(attributes_of(data), "tag-names"):
        wanted[name] = ""
    relationships = data.get("relationships")
    if relationships is None:
        return wanted
    if not isinstance(relationships, dict):
        raise InvalidInput("JSON:API member 'data.relationships' must be an object")
    for kind in ("tags", "tag-bindings"):
        member = relationships.get(kind)
        if member is None:
            continue
        if not isinstance(member, dict):
            raise InvalidInput(f"relationship {kind!r} must be an object")
        for item in data_list(member):
            attributes = attributes_of(item)
            if kind == "tags":
                wanted[text(attributes, "name", required=True)] = ""
            else:
                wanted[text(attributes, "key", required=True)] = text(attributes, "value")
    return wanted


def _string_list(attributes: Mapping[str, Any], key: str) -> list[str]:
    value = attributes.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"attribute {key!r} must be a list of strings")
    return value
