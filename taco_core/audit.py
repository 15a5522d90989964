"""The audit trail's records: who did what, to which unit, when, from where.

One ``AuditRecord`` per thing that happened (a state written, a lock taken,
a write refused, an access denied ...), built from the domain event the use
case published (``audit_record``), so the trail says exactly what the events
say and a new event needs one ``case`` here to be recorded.

Record IDs sort in time order (a fixed-width UTC timestamp, a sequence
number, then a random part), which is what lets every store page through the trail by ID alone:
``since`` is an ID lower bound (``id_floor``), and the cursor of the next
page is the last ID of this one.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum

from attrs import field, frozen

from taco_core.auth import ApiToken
from taco_core.errors import InvalidInput
from taco_core.events import (
    AccessDenied,
    Event,
    LockAcquired,
    LockRefused,
    LockReleased,
    OrganizationCreated,
    RbacChanged,
    StateCommitted,
    TokenCreated,
    TokenRevoked,
    UnitCreated,
    UnitDeleted,
    UnitLabelsChanged,
    UnitUndeleted,
    UserAdded,
    WriteRefused,
)

__all__ = [
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "AuditAction",
    "AuditPage",
    "AuditQuery",
    "AuditRecord",
    "audit_record",
    "id_floor",
    "new_record_id",
]

DEFAULT_PAGE = 100
MAX_PAGE = 1000
# Filters are unit IDs (255 characters at most) and subjects; anything longer
# names nothing that could be stored.
_MAX_FILTER = 1024
_ID = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{12}")
# A unit may carry many labels (workspace tags); a record keeps this much of them.
_MAX_LABELS_DETAIL = 1000


class AuditAction(StrEnum):
    """What a record is about."""

    CREATE = "create"
    STATE_WRITE = "state.write"
    STATE_REFUSED = "state.refused"
    RESTORE = "restore"
    LOCK = "lock"
    LOCK_REFUSED = "lock.refused"
    UNLOCK = "unlock"
    FORCE_UNLOCK = "force-unlock"
    DELETE = "delete"
    UNDELETE = "undelete"
    ACCESS_DENIED = "access.denied"
    TOKEN_CREATE = "token.create"
    TOKEN_REVOKE = "token.revoke"
    RBAC_CHANGE = "rbac.change"
    LABELS = "labels"
    ORGANIZATION_CREATE = "organization.create"
    USER_ADD = "user.add"


def _text(value: str) -> str:
    """``value`` as text every store can keep: JSON lets a client spell a lone
    surrogate ("\\ud800"), which no UTF-8 store accepts, and one such record
    must not block the trail. Those code points become "?"."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


@frozen(kw_only=True)
class AuditRecord:
    """One entry of the trail.

    Who: ``subject``, ``principal_kind`` and, when an API token acted,
    ``token_id``. When: ``at`` (UTC). What: ``action`` on ``unit_id`` (empty
    when it concerns no unit), the ``version`` written or quarantined, the
    ``lock_id`` involved and a ``detail`` sentence. From where: ``origin``
    (the client's address), ``surface`` (which front door) and the
    ``request_id`` that ties it to the request's log lines.
    """

    id: str
    at: datetime
    action: str = field(converter=_text)
    subject: str = field(converter=_text)
    principal_kind: str = field(converter=_text)
    token_id: str = field(default="", converter=_text)
    unit_id: str = field(default="", converter=_text)
    version: int | None = None
    lock_id: str = field(default="", converter=_text)
    detail: str = field(default="", converter=_text)
    origin: str = field(default="", converter=_text)
    surface: str = field(default="", converter=_text)
    request_id: str = field(default="", converter=_text)


def _stamp(at: datetime) -> str:
    """``at`` in UTC, fixed width (``YYYYmmddTHHMMSSffffffZ``), so text order
    is time order. Written out by hand: ``strftime`` does not pad years."""
    u = at.astimezone(UTC)
    return (
        f"{u.year:04d}{u.month:02d}{u.day:02d}T"
        f"{u.hour:02d}{u.minute:02d}{u.second:02d}{u.microsecond:06d}Z"
    )


# Orders the records one process makes within the same microsecond (a use
# case may publish two events without the clock moving); the random part
# keeps processes from choosing the same ID.
_sequence = itertools.count()


def new_record_id(at: datetime) -> str:
    """A fresh record ID for something that happened at ``at``: unique, and
    sorting IDs sorts records by time (then, within one process, by order)."""
    return f"{_stamp(at)}-{next(_sequence) % 0x1000000:06x}{secrets.token_hex(3)}"


def id_floor(at: datetime) -> str:
    """The lower bound of the IDs of records made at or after ``at``: every
    such ID is greater than or equal to it, every earlier one less."""
    return _stamp(at)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        raise InvalidInput("since must be a time with a time zone, e.g. 2026-01-01T00:00:00Z")
    return value


def _filter_text(value: str) -> str:
    if len(value) > _MAX_FILTER:
        raise InvalidInput(f"an audit filter may be at most {_MAX_FILTER} characters long")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("an audit filter must be valid Unicode text") from None
    return value


def _cursor(value: str) -> str:
    if value and not _ID.fullmatch(value):
        raise InvalidInput(
            f"invalid cursor {value[:60]!r}: pass the 'next' value of the previous page"
        )
    return value


def _limit(value: int) -> int:
    if not 1 <= value <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}, got {value}")
    return value


@frozen(kw_only=True)
class AuditQuery:
    """Which records to read: those of ``unit`` and by ``subject`` (exact
    matches, when given), made at or after ``since``, after the cursor
    ``after`` (a record ID, the previous page's ``next``), oldest first, at
    most ``limit``. Invalid values raise ``InvalidInput``."""

    unit: str = field(default="", converter=_filter_text)
    subject: str = field(default="", converter=_filter_text)
    since: datetime | None = field(default=None, converter=_aware)
    after: str = field(default="", converter=_cursor)
    limit: int = field(default=DEFAULT_PAGE, converter=_limit)

    def lower_bound(self) -> tuple[str, bool]:
        """The tightest ID bound of the query: ``(bound, inclusive)``."""
        floor = id_floor(self.since) if self.since is not None else ""
        if self.after and self.after >= floor:
            return self.after, False
        return floor, True

    def matches(self, record: AuditRecord) -> bool:
        """Whether ``record`` belongs to the answer (order and limit aside)."""
        bound, inclusive = self.lower_bound()
        if record.id < bound or (record.id == bound and not inclusive):
            return False
        if self.unit and record.unit_id != self.unit:
            return False
        return not (self.subject and record.subject != self.subject)


@frozen
class AuditPage:
    """Records oldest first, and the cursor of the next page: ``None`` when
    no matching record follows. A page may hold fewer than ``limit`` records
    (even none) while ``next`` is set, when the store stopped reading early."""

    records: tuple[AuditRecord, ...]
    next: str | None


def _record(
    event: Event,
    action: AuditAction,
    *,
    unit_id: str = "",
    version: int | None = None,
    lock_id: str = "",
    detail: str = "",
) -> AuditRecord:
    caller = event.caller
    principal = caller.principal
    return AuditRecord(
        id=new_record_id(event.at),
        at=event.at,
        action=action,
        subject=principal.subject,
        principal_kind=str(principal.kind),
        token_id=principal.token_id,
        origin=caller.origin,
        surface=str(caller.surface),
        request_id=caller.request_id,
        unit_id=unit_id,
        version=version,
        lock_id=lock_id,
        detail=detail,
    )


def _token(token: ApiToken) -> str:
    """Which token: its ID, name and subject (never its secret or hash)."""
    return f"token {token.id} {token.name!r} of subject {token.subject!r}"


def _token_created(token: ApiToken) -> str:
    parts = [_token(token)]
    if token.expires is not None:
        expires = token.expires.astimezone(UTC).isoformat().replace("+00:00", "Z")
        parts.append(f"expires {expires}")
    if token.roles is not None:
        parts.append(f"narrowed to roles {', '.join(token.roles)}")
    if token.parent:
        parts.append(f"made with token {token.parent}")
    return "; ".join(parts)


def _rbac_change(event: RbacChanged) -> str:
    touched = [
        f"{kind} {name!r}"
        for kind, name in (
            ("role", event.role),
            ("permission", event.permission),
            ("subject", event.subject),
        )
        if name
    ]
    return f"{event.operation}: {', '.join(touched)}" if touched else event.operation


def _labels(labels: Mapping[str, str]) -> str:
    """The labels a unit now has, sorted, cut at ``_MAX_LABELS_DETAIL``."""
    text = ", ".join(f"{key}={value}" if value else key for key, value in sorted(labels.items()))
    if len(text) > _MAX_LABELS_DETAIL:
        text = text[: _MAX_LABELS_DETAIL - 1] + "…"
    return f"labels now: {text}" if text else "labels now: none"


def audit_record(event: Event) -> AuditRecord | None:
    """The record of ``event``, or ``None`` for events the trail leaves out.

    A new event is recorded by adding one ``case``. Left out: what no caller
    did, ``UnitStatusChanged`` (a dependency colour the graph service derives
    from writes the trail has already recorded; one write may recolour
    hundreds of units, and the webhooks carry them).
    """
    match event:
        case StateCommitted(version=version) if version.restored_from is not None:
            return _record(
                event,
                AuditAction.RESTORE,
                unit_id=event.unit_id,
                version=version.number,
                lock_id=event.lock_id or "",
                detail=version.note,
            )
        case StateCommitted(version=version):
            return _record(
                event,
                AuditAction.STATE_WRITE,
                unit_id=event.unit_id,
                version=version.number,
                lock_id=event.lock_id or "",
                detail=version.note,
            )
        case WriteRefused():
            return _record(
                event,
                AuditAction.STATE_REFUSED,
                unit_id=event.unit_id,
                version=event.quarantined,
                detail=event.reason,
            )
        case LockAcquired(lock=lock):
            return _record(
                event,
                AuditAction.LOCK,
                unit_id=event.unit_id,
                lock_id=lock.id,
                detail=" ".join(part for part in (lock.operation, lock.who) if part),
            )
        case LockReleased(forced=True):
            return _record(
                event,
                AuditAction.FORCE_UNLOCK,
                unit_id=event.unit_id,
                lock_id=event.holder.id if event.holder else "",
                detail=f"held by {event.holder.who}" if event.holder and event.holder.who else "",
            )
        case LockReleased():
            return _record(
                event, AuditAction.UNLOCK, unit_id=event.unit_id, lock_id=event.lock_id or ""
            )
        case LockRefused(holder=holder):
            return _record(
                event,
                AuditAction.LOCK_REFUSED,
                unit_id=event.unit_id,
                lock_id=holder.id if holder else "",
                detail=f"{event.operation} refused: the unit is locked"
                + (f" by {holder.who}" if holder and holder.who else ""),
            )
        case UnitCreated(unit=unit):
            return _record(event, AuditAction.CREATE, unit_id=unit.id)
        case UnitDeleted():
            return _record(event, AuditAction.DELETE, unit_id=event.unit_id)
        case UnitUndeleted(unit=unit):
            return _record(event, AuditAction.UNDELETE, unit_id=unit.id)
        case AccessDenied():
            return _record(
                event,
                AuditAction.ACCESS_DENIED,
                unit_id="" if event.resource == "*" else event.resource,
                detail=f"{event.action}: {event.reason}" if event.reason else event.action,
            )
        case TokenCreated(token=token):
            return _record(event, AuditAction.TOKEN_CREATE, detail=_token_created(token))
        case TokenRevoked(token=token, cascaded_from=cascaded_from):
            detail = _token(token)
            if cascaded_from:
                detail += f"; with token {cascaded_from}, from which it descends"
            return _record(event, AuditAction.TOKEN_REVOKE, detail=detail)
        case RbacChanged():
            # ``version`` is the policy's version this change saved.
            return _record(
                event, AuditAction.RBAC_CHANGE, version=event.version, detail=_rbac_change(event)
            )
        case UnitLabelsChanged(unit=unit):
            return _record(event, AuditAction.LABELS, unit_id=unit.id, detail=_labels(unit.labels))
        case OrganizationCreated(organization=org):
            return _record(
                event,
                AuditAction.ORGANIZATION_CREATE,
                detail=f"organization {org.name!r} ({org.id})"
                + (f"; external ID {org.external_id!r}" if org.external_id else ""),
            )
        case UserAdded(organization=org, user=user):
            known = "" if event.created else "; already known"
            return _record(
                event,
                AuditAction.USER_ADD,
                detail=f"user {user.subject!r} to organization {org.name!r} ({org.id}){known}",
            )
    return None
