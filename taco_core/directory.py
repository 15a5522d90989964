"""Organizations and their users: the directory a UI syncs in, as one document.

An organization is a namespace: its ``name`` is the first segment of the IDs
of its units, so workspace ``W`` of organization ``acme`` is unit ``acme/W``
whichever door it is reached through (the Terraform-Cloud-compatible API, the
HTTP backend, the CLI, S3). The directory adds what a UI needs around that
name: a display name, the identity provider's ID for the organization
(``external_id``, e.g. a WorkOS organization ID) and the users who belong to
it.

The whole directory is one versioned document, replaced as a unit by
compare-and-swap (``ports.DirectoryStore``), like the RBAC policy: every
replica sees the same organizations, and two syncs at once never lose one
another. Edits are pure functions from one version to the next; they check
their inputs and raise typed errors, changing nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime

import attrs
from attrs import field, frozen

from taco_core.errors import InvalidInput, OrganizationAlreadyExists, OrganizationNotFound

__all__ = [
    "EMPTY_DIRECTORY",
    "Directory",
    "Organization",
    "User",
    "add_organization",
    "add_user",
    "check_external_id",
    "check_organization_name",
    "find_organization",
    "members",
    "organizations_of",
]

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_MIN_NAME = 3
_MAX_NAME = 100
_MAX_TEXT = 255


def _tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@frozen
class Organization:
    """An organization: ``name`` is its namespace (a unit-ID segment);
    ``id`` is ours, ``external_id`` the identity provider's."""

    id: str
    name: str
    display_name: str
    created_at: datetime
    external_id: str = ""
    created_by: str = ""


@frozen
class User:
    """A person the UI knows, by the identity provider's subject, and the
    organizations (by ``Organization.id``) they belong to."""

    subject: str
    created_at: datetime
    email: str = ""
    organizations: tuple[str, ...] = field(default=(), converter=_tuple)


def _organizations(value: Mapping[str, Organization]) -> dict[str, Organization]:
    return dict(value)


def _users(value: Mapping[str, User]) -> dict[str, User]:
    return dict(value)


@frozen
class Directory:
    """Every organization (by ID) and user (by subject), and the document's
    ``version``, which rises by one with every saved change (the token of the
    store's compare-and-swap; 0 is the empty directory of a fresh install)."""

    version: int = 0
    organizations: Mapping[str, Organization] = field(factory=dict, converter=_organizations)
    users: Mapping[str, User] = field(factory=dict, converter=_users)


EMPTY_DIRECTORY = Directory()


# -- validation -------------------------------------------------------------------


def check_organization_name(raw: str) -> str:
    """The organization name ``raw`` stands for (lowercased), or
    ``InvalidInput`` saying why it cannot be one.

    The name is the first segment of its units' IDs and the ``organization``
    Terraform's ``remote`` and ``cloud`` backends send, so it obeys both:
    lowercase letters, digits, ``.``, ``_`` and ``-``, starting with a letter
    or digit, 3 to 100 characters, and no ``__`` (reserved in unit IDs).
    """
    name = raw.strip().lower()
    if not (_MIN_NAME <= len(name) <= _MAX_NAME) or not _NAME.fullmatch(name) or "__" in name:
        raise InvalidInput(
            f"organization name {raw!r} must be {_MIN_NAME} to {_MAX_NAME} lowercase letters, "
            "digits, '.', '_' or '-', start with a letter or digit and not contain '__' "
            "(it becomes the first segment of the organization's unit IDs)"
        )
    return name


def _check_text(what: str, value: str, *, required: bool) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > _MAX_TEXT or not value.isprintable():
        raise InvalidInput(f"{what} must be printable text of at most {_MAX_TEXT} characters")
    return value


def check_external_id(raw: str) -> str:
    """An identity provider's organization ID: printable, at most 255 characters."""
    return _check_text("external_org_id", raw, required=False)


def check_display_name(raw: str) -> str:
    return _check_text("display_name", raw, required=False)


def check_subject(raw: str) -> str:
    return _check_text("subject", raw, required=True)


def check_email(raw: str) -> str:
    return _check_text("email", raw, required=False)


# -- reading ----------------------------------------------------------------------


def find_organization(directory: Directory, identifier: str) -> Organization | None:
    """The organization ``identifier`` names: its external ID first (what a UI
    synced from an identity provider sends), then our ID, then its name."""
    orgs = sorted(directory.organizations.values(), key=lambda o: o.created_at)
    for found in orgs:
        if found.external_id and found.external_id == identifier:
            return found
    for found in orgs:
        if found.id == identifier:
            return found
    for found in orgs:
        if found.name == identifier:
            return found
    return None


def organizations_of(directory: Directory, subject: str) -> list[Organization]:
    """The organizations ``subject`` belongs to (a member, or its creator), by name."""
    user = directory.users.get(subject)
    joined = set(user.organizations) if user is not None else set()
    return sorted(
        (
            o
            for o in directory.organizations.values()
            if o.id in joined or (subject and o.created_by == subject)
        ),
        key=lambda o: o.name,
    )


def members(directory: Directory, organization: Organization) -> list[User]:
    """The organization's users, by subject."""
    return sorted(
        (u for u in directory.users.values() if organization.id in u.organizations),
        key=lambda u: u.subject,
    )


# -- edits ------------------------------------------------------------------------


def add_organization(directory: Directory, organization: Organization) -> Directory:
    """``directory`` with ``organization`` added (version + 1);
    ``OrganizationAlreadyExists`` when its name or external ID is taken."""
    for other in directory.organizations.values():
        if other.name == organization.name:
            raise OrganizationAlreadyExists(organization.name)
        if organization.external_id and other.external_id == organization.external_id:
            raise OrganizationAlreadyExists(organization.external_id)
    return Directory(
        version=directory.version + 1,
        organizations={**directory.organizations, organization.id: organization},
        users=directory.users,
    )


def add_user(
    directory: Directory, organization_id: str, subject: str, email: str, now: datetime
) -> tuple[Directory, User, bool]:
    """``directory`` with ``subject`` a member of the organization (version +
    1), the user as it now is, and whether the user is new. An existing user
    keeps their other organizations; a non-empty ``email`` replaces theirs.
    ``OrganizationNotFound`` for an unknown organization ID."""
    if organization_id not in directory.organizations:
        raise OrganizationNotFound(organization_id)
    found = directory.users.get(subject)
    if found is None:
        user = User(subject=subject, created_at=now, email=email, organizations=(organization_id,))
    else:
        orgs = found.organizations
        if organization_id not in orgs:
            orgs = (*orgs, organization_id)
        user = attrs.evolve(found, email=email or found.email, organizations=orgs)
    updated = Directory(
        version=directory.version + 1,
        organizations=directory.organizations,
        users={**directory.users, subject: user},
    )
    return updated, user, found is None
