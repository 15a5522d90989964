"""What happened: the domain events the use cases publish to whoever listens
(audit log, dependency graph, metrics, webhooks) through ``event_bus.EventBus``.

A use case publishes after its effect is durable (or, for refusals, after it
decided), so a listener never sees something that did not happen.
"""

from __future__ import annotations

from datetime import datetime

from attrs import frozen

from taco_core.auth import ApiToken
from taco_core.caller import Caller
from taco_core.directory import Organization, User
from taco_core.graph import Edge
from taco_core.graph_status import Colour
from taco_core.model import LockInfo, StateVersion, Unit, UnitId

__all__ = [
    "AccessDenied",
    "Event",
    "LockAcquired",
    "LockRefused",
    "LockReleased",
    "OrganizationCreated",
    "RbacChanged",
    "StateCommitted",
    "TokenCreated",
    "TokenRevoked",
    "UnitCreated",
    "UnitDeleted",
    "UnitLabelsChanged",
    "UnitStatusChanged",
    "UnitUndeleted",
    "UserAdded",
    "WriteRefused",
]


@frozen(kw_only=True)
class Event:
    """Base of every event: who acted, and when the service saw it."""

    caller: Caller
    at: datetime


@frozen(kw_only=True)
class UnitCreated(Event):
    unit: Unit


@frozen(kw_only=True)
class UnitDeleted(Event):
    """Soft-deleted: recoverable until purged."""

    unit_id: UnitId


@frozen(kw_only=True)
class UnitUndeleted(Event):
    unit: Unit


@frozen(kw_only=True)
class StateCommitted(Event):
    """A new current state: an upload, a restore (``version.restored_from``)
    or the service's own write. Quarantined writes are ``WriteRefused``."""

    unit_id: UnitId
    version: StateVersion
    lock_id: str | None = None


@frozen(kw_only=True)
class WriteRefused(Event):
    """The clobber guard refused a write; ``quarantined`` is the version that
    keeps its bytes."""

    unit_id: UnitId
    reason: str
    quarantined: int


@frozen(kw_only=True)
class LockAcquired(Event):
    unit_id: UnitId
    lock: LockInfo


@frozen(kw_only=True)
class LockReleased(Event):
    """``forced`` when released without the holder's ID (force-unlock);
    ``holder`` is the lock that was released, when known."""

    unit_id: UnitId
    lock_id: str | None
    forced: bool
    holder: LockInfo | None = None


@frozen(kw_only=True)
class LockRefused(Event):
    """An operation met someone else's lock (``operation``: lock, write,
    unlock, delete)."""

    unit_id: UnitId
    operation: str
    holder: LockInfo | None


@frozen(kw_only=True)
class AccessDenied(Event):
    """Authorization refused ``action`` on ``resource`` (a unit ID or ``*``)."""

    action: str
    resource: str
    reason: str


@frozen(kw_only=True)
class UnitLabelsChanged(Event):
    """The unit's labels (its workspace tags, through the Terraform-Cloud API)
    changed; ``unit`` carries them as they now are."""

    unit: Unit


@frozen(kw_only=True)
class OrganizationCreated(Event):
    """An organization joined the directory (created or first synced); the
    caller is who asked, e.g. the UI's user behind the internal API."""

    organization: Organization


@frozen(kw_only=True)
class UserAdded(Event):
    """``user`` became a member of ``organization`` (or was already one and
    was synced again: ``created`` tells a new user from a known one)."""

    organization: Organization
    user: User
    created: bool


@frozen(kw_only=True)
class UnitStatusChanged(Event):
    """A unit's dependency colour changed in the committed graph (published by
    the graph service, acting as the system). ``cause`` is the edge that makes
    it red or yellow, or that made it so when it turned green; ``unit_id`` is
    as the graph's edges name it (it may not exist as a unit)."""

    unit_id: str
    before: Colour
    after: Colour
    cause: Edge | None


@frozen(kw_only=True)
class TokenCreated(Event):
    """An API token was created; ``token`` is its record (the secret is never
    in an event). ``token.subject`` may differ from the caller's subject when
    an admin made a token for a service subject."""

    token: ApiToken


@frozen(kw_only=True)
class TokenRevoked(Event):
    """An API token was revoked (also when it already was: the request is
    what an audit trail records). A token revoked because the token that
    created it was (down the line) names that one in ``cascaded_from``."""

    token: ApiToken
    cascaded_from: str = ""


@frozen(kw_only=True)
class RbacChanged(Event):
    """The RBAC policy changed and was saved as ``version``.

    ``operation`` names the edit (``role_created``, ``role_deleted``,
    ``permission_created``, ``permission_deleted``, ``permission_assigned``,
    ``permission_revoked``, ``role_assigned``, ``role_revoked``); ``role``,
    ``permission`` and ``subject`` name what it touched (empty when it did
    not touch one).
    """

    operation: str
    version: int
    role: str = ""
    permission: str = ""
    subject: str = ""
