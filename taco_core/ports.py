"""The ports: what the core needs from the outside world, as async Protocols.

Adapters (``taco_adapters``) implement them by technology: memory, SQLite, S3,
and the remote HTTP client. Every adapter passes the same contract suite in
``tests/contract``; the docstrings below are that contract in prose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from taco_core.audit import AuditPage, AuditQuery, AuditRecord
from taco_core.auth import ApiToken, Principal, RefreshToken, SigningKey
from taco_core.content import StateReader
from taco_core.diff import StateDiff
from taco_core.directory import Directory
from taco_core.events import Event
from taco_core.graph_status import GraphView, UnitStatus
from taco_core.model import (
    LockInfo,
    NewVersion,
    Payload,
    RetentionPolicy,
    StagedUpload,
    StateVersion,
    Unit,
    UnitId,
    VersionPage,
    WriteResult,
)
from taco_core.rbac import RbacPolicy


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class EventSink(Protocol):
    """Something that listens to the domain events (``taco_core.events``):
    the audit log, the dependency graph's updater, metrics, webhooks."""

    async def publish(self, event: Event) -> None:
        """Take note of ``event``. Called after the effect it describes, in the
        request that caused it, so a sink must be quick (queue slow work) and
        should not raise; what it raises is logged by the bus, never shown to
        the caller."""
        ...


class StateStore(Protocol):
    """Units, their locks and their append-only history, stored atomically.

    Every method is atomic on its own: a concurrent caller (another task, thread
    or process sharing the storage) sees it entirely or not at all. Deleted
    units (soft delete) are invisible to every method unless a method says
    otherwise. Vendor errors surface as ``StorageUnavailable``.
    """

    async def create_unit(self, unit: Unit) -> Unit:
        """Store a new unit. ``UnitAlreadyExists`` if a live unit has the ID.
        A soft-deleted unit does not hold its ID: creating the ID again starts
        a new, empty incarnation beside the deleted one."""
        ...

    async def get_unit(self, unit_id: UnitId) -> Unit:
        """The live unit with its current lock. ``UnitNotFound`` if absent."""
        ...

    async def list_units(self, prefix: str = "", *, deleted: bool = False) -> Sequence[Unit]:
        """Live units whose ID starts with ``prefix`` (plain string prefix),
        sorted by ID. ``deleted=True`` lists the soft-deleted incarnations
        instead (an ID may appear more than once; newest deletion first)."""
        ...

    async def unit_documents(
        self,
        prefix: str = "",
        *,
        deleted: bool = False,
        after: str = "",
        limit: int | None = None,
    ) -> Sequence[tuple[UnitId, str]]:
        """The units ``list_units`` lists (same order), each as its ID and the
        JSON object the management API shows for it (``unit_json`` of
        ``taco_adapters.wire``), rendered by the store where it can do so
        without building a ``Unit`` per row: a listing of 100,000 units is
        then a matter of joining strings. ``after``: only IDs greater than it
        (keyset pagination of live units); ``limit``: at most that many."""
        ...

    async def delete_unit(self, unit_id: UnitId, at: datetime) -> None:
        """Soft-delete: hide the unit, free its ID, keep its history until
        purged. ``UnitNotFound`` if absent; ``LockConflict`` if it is locked."""
        ...

    async def undelete_unit(self, unit_id: UnitId) -> Unit:
        """Bring back the most recently deleted incarnation of the ID.
        ``UnitNotFound`` if there is none; ``UnitAlreadyExists`` while a live
        unit has the ID (delete or rename that one first)."""
        ...

    async def purge_deleted(self, deleted_before: datetime) -> Sequence[UnitId]:
        """Remove for good the incarnations deleted before the given time,
        with all their versions. Returns their IDs."""
        ...

    async def update_labels(self, unit_id: UnitId, changes: Mapping[str, str | None]) -> Unit:
        """Change the live unit's labels in one atomic step: each key of
        ``changes`` is set to its value, or removed when the value is
        ``None``; other labels stay. Returns the unit as it now is (with its
        lock). ``UnitNotFound`` if absent. Two concurrent updates of different
        keys both land."""
        ...

    async def lock(self, unit_id: UnitId, wanted: LockInfo) -> LockInfo:
        """Acquire the lock (rules: ``taco_core.locks.check_lock``), deciding
        atomically so that exactly one of many concurrent callers wins.
        ``LockConflict`` carries the holder; ``UnitNotFound`` if absent."""
        ...

    async def unlock(self, unit_id: UnitId, lock_id: str | None) -> LockInfo | None:
        """Release the lock (``taco_core.locks.check_unlock``); ``None`` forces.
        Idempotent on an unlocked unit. Returns the lock it released, read
        in the same step (``None``: there was none), for the event that
        names the holder."""
        ...

    async def head(self, unit_id: UnitId) -> StateVersion | None:
        """The current version's metadata, or ``None`` before the first write."""
        ...

    async def unit_and_head(self, unit_id: UnitId) -> tuple[Unit, StateVersion | None]:
        """``get_unit`` and ``head`` in one read (one transaction, one round of
        requests): what a write checks before it commits. ``UnitNotFound``."""
        ...

    async def commit(
        self,
        unit_id: UnitId,
        new: NewVersion,
        *,
        expected_head: int | None,
        lock_id: str | None,
        retention: RetentionPolicy,
    ) -> StateVersion:
        """Append ``new`` to the unit's history in one atomic step.

        Checks, atomically with the write: the lock (``locks.check_write`` with
        ``lock_id``), then that the current head is still ``expected_head``
        (else ``ConcurrentUpdate``; the caller re-reads and retries). A
        non-quarantined version becomes the head; a quarantined one does not.
        Then prunes per ``retention`` (``taco_core.retention.prunable``).
        Numbers increase by one per commit and are never reused.
        """
        ...

    async def read_state(self, unit_id: UnitId) -> tuple[StateVersion, bytes] | None:
        """The current version and its bytes, or ``None`` before the first write."""
        ...

    async def open_state(self, unit_id: UnitId) -> tuple[StateVersion, StateReader] | None:
        """``read_state`` for serving: the current version and a reader of its
        bytes, or ``None`` before the first write. A large state is streamed
        from one consistent snapshot (never the bytes of a later version), so
        serving it holds a slice of it in memory, not all of it. The caller
        closes the reader. ``UnitNotFound`` if the unit does not exist."""
        ...

    async def list_versions(self, unit_id: UnitId) -> Sequence[StateVersion]:
        """Every kept version of the unit, newest first (quarantined included)."""
        ...

    async def read_version(self, unit_id: UnitId, number: int) -> tuple[StateVersion, bytes]:
        """One version and its bytes. ``VersionNotFound`` if not kept."""
        ...

    async def version_page(self, unit_id: UnitId, *, offset: int, limit: int) -> VersionPage:
        """``limit`` versions from the ``offset``-th newest on, as
        ``list_versions`` orders them, and how many there are in all, read
        together, without reading the rest of the history."""
        ...

    async def ping(self) -> None:
        """Cheap round trip proving the store is reachable (readiness)."""
        ...

    async def aclose(self) -> None:
        """Release connections and clients."""
        ...


class StateControl(Protocol):
    """What a front end (CLI, provider, custom tooling) can do with units.

    Two implementations share it, so every front end runs unchanged against a
    server or embedded: ``StateService.acting_as(caller)`` (in process, over a
    ``StateStore``, on behalf of one caller) and
    ``taco_adapters.remote.RemoteStateControl`` (HTTP client of a running
    ``opentacosvc``, which decides who the caller is from its token). Errors
    are the core's ``TacoError`` classes in both, ``PermissionDenied``
    included.
    """

    async def create_unit(self, raw_id: str, labels: Mapping[str, str] | None = None) -> Unit:
        """Create a unit; ``UnitAlreadyExists``, ``InvalidUnitId``, ``ReservedUnitId``."""
        ...

    async def list_units(self, prefix: str = "", *, deleted: bool = False) -> Sequence[Unit]:
        """Units whose ID starts with ``prefix``, sorted by ID."""
        ...

    async def get_unit(self, unit_id: UnitId) -> Unit:
        """One unit with its lock; ``UnitNotFound``."""
        ...

    async def delete_unit(self, unit_id: UnitId) -> None:
        """Soft-delete; ``UnitNotFound``, ``LockConflict`` when locked."""
        ...

    async def undelete_unit(self, unit_id: UnitId) -> Unit:
        """Bring back a soft-deleted unit."""
        ...

    async def update_labels(self, unit_id: UnitId, changes: Mapping[str, str | None]) -> Unit:
        """Set each label of ``changes`` to its value, or remove it where the
        value is ``None``, leaving the others; returns the unit as it now is.
        ``UnitNotFound``."""
        ...

    async def download(self, unit_id: UnitId) -> tuple[StateVersion, bytes] | None:
        """The current state, ``None`` when the unit has none yet."""
        ...

    async def upload(
        self,
        unit_id: UnitId,
        data: Payload,
        *,
        lock_id: str | None = None,
        force: bool = False,
        create_missing: bool = False,
    ) -> WriteResult:
        """Store a new current state (lock, validation and clobber guard apply)."""
        ...

    async def lock(
        self, unit_id: UnitId, wanted: LockInfo, *, create_missing: bool = False
    ) -> LockInfo:
        """Acquire the lock; ``LockConflict`` carries the holder."""
        ...

    async def unlock(self, unit_id: UnitId, lock_id: str | None) -> None:
        """Release the lock; ``None`` forces it."""
        ...

    async def list_versions(self, unit_id: UnitId) -> Sequence[StateVersion]:
        """History, newest first, quarantined versions included."""
        ...

    async def read_version(self, unit_id: UnitId, number: int) -> tuple[StateVersion, bytes]:
        """One version's metadata and bytes; ``VersionNotFound``."""
        ...

    async def restore(
        self, unit_id: UnitId, number: int, *, lock_id: str | None = None
    ) -> StateVersion:
        """Make an old version current again as a new version with a higher serial."""
        ...

    async def diff(
        self, unit_id: UnitId, from_version: int | None = None, to_version: int | None = None
    ) -> StateDiff:
        """What changed between two versions (default: the last change)."""
        ...


class DependencyGraph(Protocol):
    """What needs re-applying: the dependency graph's views, for front ends.

    Two implementations share it, like ``StateControl``:
    ``GraphService.acting_as(caller)`` (in process) and
    ``taco_adapters.remote.RemoteDependencyGraph`` (HTTP client). Only units
    the caller may read (``unit.read_outputs``) are shown, and digests only on
    edges whose source it may read in full (``unit.read``); colours come from
    the whole graph.
    """

    async def unit_status(self, unit_id: UnitId) -> UnitStatus:
        """One unit's colour, incoming edges and summary; ``UnitNotFound`` if
        no unit has the ID and no edge names it."""
        ...

    async def statuses(self, prefix: str = "") -> Sequence[UnitStatus]:
        """Every unit the graph names whose ID starts with ``prefix``, by ID."""
        ...

    async def graph(self, unit_id: UnitId | None = None) -> GraphView:
        """The whole graph, or the edges from and to one unit and their ends."""
        ...


class TokenStore(Protocol):
    """API tokens and refresh tokens, stored by the SHA-256 of their secret.

    A store never sees a secret, only ``secret_hash``. Every method is atomic
    on its own across every process sharing the storage. Records are never
    edited except to set ``revoked`` or ``used``, so a reader may cache nothing
    and still be cheap. Vendor errors surface as ``StorageUnavailable``.
    """

    async def add_api_token(self, token: ApiToken) -> None:
        """Store a new API token (its ``id`` and ``secret_hash`` are fresh)."""
        ...

    async def add_first_api_token(self, token: ApiToken) -> bool:
        """Store ``token`` only if no API token was ever stored (revoked ones
        count), deciding atomically so that of many processes starting at once
        exactly one bootstraps. True when it was stored."""
        ...

    async def find_api_token(self, secret_hash: str) -> ApiToken | None:
        """The token with this secret hash, revoked or expired ones included."""
        ...

    async def get_api_token(self, token_id: str) -> ApiToken | None:
        """The token with this ID, or ``None``."""
        ...

    async def list_api_tokens(self) -> Sequence[ApiToken]:
        """Every API token, revoked ones included, oldest first."""
        ...

    async def revoke_api_token(self, token_id: str, at: datetime) -> ApiToken | None:
        """Mark the token revoked (idempotent: an earlier revocation time is
        kept) and return it; ``None`` if there is no such token."""
        ...

    async def add_refresh_token(self, token: RefreshToken) -> None:
        """Store the first refresh token of a new family (a login)."""
        ...

    async def find_refresh_token(self, secret_hash: str) -> RefreshToken | None:
        """The refresh token with this secret hash, used or revoked ones included."""
        ...

    async def rotate_refresh_token(self, old_id: str, new: RefreshToken, at: datetime) -> bool:
        """Replace ``old_id`` by ``new`` in one atomic step: if ``old_id`` is
        still neither used nor revoked, mark it used at ``at`` and store
        ``new``; otherwise change nothing and return False (a concurrent use
        won, which the caller treats as reuse)."""
        ...

    async def revoke_refresh_family(self, family: str, at: datetime) -> None:
        """Revoke every refresh token of the family (idempotent)."""
        ...

    async def purge_refresh_tokens(self, expired_before: datetime) -> int:
        """Delete refresh tokens that expired before the given time; they can
        never be accepted again, so reuse detection loses nothing. Returns how
        many were deleted."""
        ...


class SigningKeyStore(Protocol):
    """The private keys that sign our access tokens, shared by every replica.

    Atomic like ``TokenStore``. At most one key is active (not retired).
    """

    async def list_signing_keys(self) -> Sequence[SigningKey]:
        """Every stored key, active and retired, newest first."""
        ...

    async def activate_signing_key(self, key: SigningKey, *, replacing: str | None) -> SigningKey:
        """Make ``key`` the active key if there is no active key or the active
        key is still ``replacing``; the replaced key is retired at
        ``key.created``. Decided atomically: when another replica got there
        first (the active key is not ``replacing``), nothing changes and the
        key that is active is returned. Returns the active key."""
        ...

    async def delete_signing_keys(self, kids: Sequence[str]) -> None:
        """Forget retired keys (unknown IDs and the active key are left alone)."""
        ...


class SecretStore(Protocol):
    """Installation-wide secrets (keys for signed URLs, for short-lived S3
    credentials ...), the same bytes in every process sharing the storage."""

    async def secret(self, name: str, candidate: bytes) -> bytes:
        """The secret called ``name``: ``candidate`` is stored if none is yet,
        decided atomically so that of many processes starting at once exactly
        one candidate wins, and every caller gets the winner. Never changed
        afterwards. ``name`` is a short identifier (``[a-z0-9-]+``)."""
        ...


class UploadStaging(Protocol):
    """Parts of multipart uploads in progress (the S3 endpoint's), kept where
    the states are so that every replica sharing the storage sees them: the
    parts of one upload may arrive at different replicas.

    Every method is atomic on its own. Vendor errors surface as
    ``StorageUnavailable``.
    """

    async def begin_upload(self, upload: StagedUpload) -> None:
        """Record a new upload (its ``id`` is fresh and unguessable)."""
        ...

    async def get_upload(self, upload_id: str) -> StagedUpload | None:
        """The upload, or ``None`` when it is unknown, ended or purged."""
        ...

    async def put_part(self, upload_id: str, number: int, data: bytes) -> bool:
        """Stage part ``number`` (replacing a part of that number). False,
        with nothing kept, when the upload is unknown."""
        ...

    async def part_sizes(self, upload_id: str) -> Mapping[int, int]:
        """The staged parts' sizes by number (empty for an unknown upload)."""
        ...

    async def read_part(self, upload_id: str, number: int) -> bytes | None:
        """A staged part's bytes, or ``None`` when there is no such part."""
        ...

    async def end_upload(self, upload_id: str) -> None:
        """Forget the upload and its parts (completed or aborted). Idempotent."""
        ...

    async def purge_uploads(self, started_before: datetime) -> int:
        """End every upload started before the given time (abandoned ones)
        and drop parts left behind by ended uploads. Returns how many
        uploads were ended."""
        ...


class AuthStore(TokenStore, SigningKeyStore, SecretStore, Protocol):
    """The auth ports in one adapter: tokens, signing keys and secrets live
    beside the states (the same SQLite file, the same bucket and prefix), so
    every replica that shares the states shares them too."""

    async def aclose(self) -> None:
        """Release connections and clients."""
        ...


class RbacStore(Protocol):
    """The one RBAC policy document of the installation, replaced whole by
    compare-and-swap on its ``version``.

    Every process sharing the storage sees the same document. Vendor errors
    surface as ``StorageUnavailable``; nothing else is raised.
    """

    async def load(self) -> RbacPolicy | None:
        """The last policy saved, equal to what was passed to ``save`` (every
        field round-trips, ``created_at`` included), or ``None`` if none was
        ever saved. A load after a successful ``save`` (in any process) returns
        that policy or a later one, never an older one."""
        ...

    async def save(self, policy: RbacPolicy, expected_version: int | None) -> bool:
        """Replace the stored policy with ``policy`` only if the stored one's
        version is still ``expected_version``, or, with ``None``, only if no
        policy is stored. Decided atomically across every process sharing the
        storage, so of concurrent savers expecting the same version exactly one
        wins. True when stored; False, with nothing changed, when the stored
        version was not the expected one (the caller re-loads and retries).

        Callers pass ``policy.version == expected_version + 1`` (``1`` when
        creating), so a version number never names two different documents.
        """
        ...


class AuditLog(Protocol):
    """The audit trail's storage: records are appended, never edited, read
    in ID order (which is time order, ``taco_core.audit``) and forgotten
    only when older than the retention.

    Every process sharing the storage sees every record. Vendor errors
    surface as ``StorageUnavailable``.
    """

    async def append(self, records: Sequence[AuditRecord]) -> None:
        """Store ``records``, durably once this returns. Idempotent per
        record ID: a record whose ID is stored already is left as it is, so a
        batch that failed half-way may be appended again whole."""
        ...

    async def query(self, query: AuditQuery) -> AuditPage:
        """The records ``query.matches``, in ID order, at most ``query.limit``.
        ``next`` is ``None`` when no matching record follows the page, else the
        cursor (the ID to pass as ``after``); a store that reads in bounded
        steps may return a short or empty page with ``next`` set. A record
        appended before the call (in any process) is seen."""
        ...

    async def purge(self, before: datetime) -> int:
        """Delete the records made before ``before``; return how many."""
        ...

    async def aclose(self) -> None:
        """Release connections and clients."""
        ...


class AuditTrail(Protocol):
    """What a front end reads of the audit trail, on behalf of one caller:
    ``AuditService.reading_as(caller)`` in process, or
    ``taco_adapters.remote.RemoteAuditTrail`` over HTTP. Both raise
    ``PermissionDenied`` for a caller who may not read it."""

    async def query(self, query: AuditQuery) -> AuditPage:
        """The page of records ``query`` selects (see ``AuditLog.query``)."""
        ...


class DirectoryStore(Protocol):
    """The directory of organizations and users (``taco_core.directory``), one
    versioned document replaced whole by compare-and-swap on its ``version``,
    shared by every process using the storage. Vendor errors surface as
    ``StorageUnavailable``; nothing else is raised."""

    async def load(self) -> Directory | None:
        """The last directory saved, equal to what was passed to ``save``, or
        ``None`` if none ever was. A load after a successful ``save`` (in any
        process) returns that directory or a later one."""
        ...

    async def save(self, directory: Directory, expected_version: int | None) -> bool:
        """Replace the stored directory with ``directory`` only if the stored
        one's version is still ``expected_version`` (``None``: only if none is
        stored), decided atomically across processes, so of concurrent savers
        expecting the same version exactly one wins. False, with nothing
        changed, when the version was not the expected one."""
        ...


class IdTokenVerifier(Protocol):
    """Checks ID tokens from the configured OpenID Connect provider."""

    async def verify(self, id_token: str, *, now: datetime) -> Mapping[str, object]:
        """The claims of a genuine ID token: signature from the provider's
        keys, ``iss``, ``aud`` (our client ID), ``exp`` and ``iat`` checked.
        ``Unauthenticated`` otherwise; ``IdentityProviderUnavailable`` when the
        provider's keys cannot be fetched."""
        ...


class AccessTokenCodec(Protocol):
    """Issues and checks the short-lived tokens this service signs.

    ``audience`` says what a token is for: ``None`` is an access token for
    the API; another value (``"s3"`` for the session tokens of S3
    credentials) makes a token that only a ``verify`` naming the same
    audience accepts, so no kind of token passes for another.
    """

    async def issue(
        self, principal: Principal, *, now: datetime, ttl: timedelta, audience: str | None = None
    ) -> str:
        """A signed token asserting ``principal`` (every field but ``expires``,
        which becomes the token's own expiry) from ``now`` for ``ttl``."""
        ...

    async def verify(self, token: str, *, now: datetime, audience: str | None = None) -> Principal:
        """The principal a token we issued for ``audience`` asserts, its
        ``expires`` set to the token's expiry. ``CredentialExpired`` after
        ``exp``; ``Unauthenticated`` for anything else: a bad signature, a
        foreign or disallowed algorithm, a wrong ``iss`` or ``aud``, before
        ``nbf``."""
        ...

    async def public_keys(self) -> Mapping[str, object]:
        """The JWKS document of every key whose tokens may still be valid."""
        ...
