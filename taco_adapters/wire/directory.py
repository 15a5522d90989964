"""The organization directory as JSON: what the stores keep, and what the
internal API answers about organizations and users.

The stored document is ``{"format", "version", "organizations": [...],
"users": [...]}``; the internal API's shapes follow the Statesman reference
(``{"id", "name", "display_name", "external_org_id", "created_by",
"created_at"}`` for an organization).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import frozen

from taco_adapters.wire.converter import parse_time, rfc3339
from taco_core.directory import Directory, Organization, User
from taco_core.errors import StorageUnavailable

FORMAT = 1


def organization_json(organization: Organization) -> dict[str, Any]:
    """An organization as the internal API and the stored document show it."""
    return {
        "id": organization.id,
        "name": organization.name,
        "display_name": organization.display_name,
        "external_org_id": organization.external_id,
        "created_by": organization.created_by,
        "created_at": rfc3339(organization.created_at),
    }


def user_json(user: User) -> dict[str, Any]:
    """A user as the internal API and the stored document show it."""
    return {
        "subject": user.subject,
        "email": user.email,
        "organizations": list(user.organizations),
        "created_at": rfc3339(user.created_at),
    }


def directory_bytes(directory: Directory, **extra: str) -> bytes:
    """The stored document (keys sorted); ``extra`` fields (a store's write
    nonce) are added beside it and ignored when read back."""
    doc = {
        "format": FORMAT,
        "version": directory.version,
        "organizations": [organization_json(o) for o in directory.organizations.values()],
        "users": [user_json(u) for u in directory.users.values()],
        **extra,
    }
    return json.dumps(doc, sort_keys=True).encode()


def _organization(doc: Mapping[str, Any]) -> Organization:
    return Organization(
        id=str(doc["id"]),
        name=str(doc["name"]),
        display_name=str(doc.get("display_name") or ""),
        external_id=str(doc.get("external_org_id") or ""),
        created_by=str(doc.get("created_by") or ""),
        created_at=parse_time(str(doc["created_at"])),
    )


def _user(doc: Mapping[str, Any]) -> User:
    return User(
        subject=str(doc["subject"]),
        email=str(doc.get("email") or ""),
        organizations=tuple(str(o) for o in doc.get("organizations") or ()),
        created_at=parse_time(str(doc["created_at"])),
    )


def directory_from_bytes(data: bytes, where: str) -> Directory:
    """The directory stored as ``data`` in ``where``; ``StorageUnavailable``
    naming the place when it is not a directory document."""
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict):
            raise TypeError("not a JSON object")
        if doc.get("format") != FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
        orgs = [_organization(o) for o in doc["organizations"]]
        users = [_user(u) for u in doc["users"]]
        return Directory(
            version=int(doc["version"]),
            organizations={o.id: o for o in orgs},
            users={u.subject: u for u in users},
        )
    except (UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
        raise StorageUnavailable(
            f"the organization directory in {where} is unreadable: {exc}"
        ) from None


# -- requests ----------------------------------------------------------------------


@frozen
class OrganizationRequest:
    """``POST /internal/api/orgs`` and ``/orgs/sync``."""

    name: str
    display_name: str = ""
    external_org_id: str = ""


@frozen
class UserRequest:
    """``POST /internal/api/users``."""

    subject: str
    email: str = ""


def organizations_json(organizations: Sequence[Organization]) -> dict[str, Any]:
    return {
        "organizations": [organization_json(o) for o in organizations],
        "count": len(organizations),
    }


def users_json(users: Sequence[User]) -> dict[str, Any]:
    return {"users": [user_json(u) for u in users], "count": len(users)}
