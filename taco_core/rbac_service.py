"""The authorization use cases: keep the RBAC policy, edit it safely, decide.

Every surface asks this service, through the other services, and nothing
else: the same ``Authorizer`` answers for enforcement, for filtering lists
and for ``rbac test``. Edits are compare-and-swap on the policy's version,
re-applied to the newer policy when another admin (or replica) saved first,
so concurrent edits never lose one another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

import anyio.to_thread
import attrs

from taco_core.access import ReadAccess
from taco_core.auth import Principal
from taco_core.errors import ConcurrentPolicyUpdate, PermissionDenied, WouldLockOut
from taco_core.model import Payload
from taco_core.ports import Clock, RbacStore
from taco_core.rbac import (
    EMPTY_POLICY,
    GLOBAL_RESOURCE,
    Action,
    Authorizer,
    Decision,
    GroupRoles,
    RbacPolicy,
    can_anyone_manage,
    disabled_decision,
    effective_roles,
)
from taco_core.rbac_policy import initial_policy
from taco_core.redaction import redact_to_outputs

T = TypeVar("T")

# Edits conflict only when admins change RBAC at the same moment; a few
# re-applications settle any realistic contention.
_MAX_ATTEMPTS = 16

# Redacting parses the whole state; past this size that would stall the
# event loop for every other request, so it runs in a worker thread.
_INLINE_REDACT_LIMIT = 256 * 1024


class RbacService:
    """Use cases over an ``RbacStore``.

    ``group_roles`` maps identity-provider groups to role IDs
    (``taco_core.rbac.parse_group_roles``), ``subject_roles`` subjects (both
    come from the configuration, not from the stored policy). ``enabled=False`` (authentication
    turned off) allows everything. ``max_age`` lets decisions reuse the
    policy loaded that recently instead of loading it per decision (edits
    made by other processes then show after at most that long); by default
    every decision loads it. An edit made through this service is seen by its
    next decision whatever ``max_age`` is.
    """

    def __init__(
        self,
        store: RbacStore,
        clock: Clock,
        *,
        group_roles: GroupRoles | None = None,
        subject_roles: GroupRoles | None = None,
        enabled: bool = True,
        max_age: timedelta = timedelta(0),
    ) -> None:
        self.store = store
        self.clock = clock
        self.group_roles: GroupRoles = dict(group_roles or {})
        self.subject_roles: GroupRoles = dict(subject_roles or {})
        self.enabled = enabled
        self.max_age = max_age
        self._authorizer = Authorizer(EMPTY_POLICY)
        self._loaded_at: datetime | None = None
        self._edits = 0

    # -- the policy ------------------------------------------------------------

    async def ensure_initialised(self, admin_subjects: Sequence[str]) -> RbacPolicy:
        """The stored policy, created first (``initial_policy``, with
        ``admin_subjects`` holding ``admin``) if there is none.

        Creation is a compare-and-swap against "nothing stored", so when
        several replicas start at once exactly one creates it and the others
        take the winner's policy, whatever subjects they would have named.
        """
        for _ in range(_MAX_ATTEMPTS):
            stored = await self.store.load()
            if stored is not None:
                self._remember(stored, edited=False)
                return stored
            fresh = initial_policy(admin_subjects, self.clock.now())
            if await self.store.save(fresh, None):
                self._remember(fresh, edited=True)
                return fresh
        raise ConcurrentPolicyUpdate()

    async def policy(self) -> RbacPolicy:
        """The current policy (``EMPTY_POLICY``, which denies everyone, when
        none was ever saved)."""
        return (await self._current()).policy

    async def edit(self, change: Callable[[RbacPolicy], RbacPolicy]) -> RbacPolicy:
        """Apply a pure edit (``taco_core.rbac_policy``) and save it; return
        the saved policy.

        ``change`` is applied to the stored policy and the result saved with
        compare-and-swap; when another writer saved first, it is applied
        again to theirs (so it may run several times, and must be pure). Its
        errors reach the caller, nothing saved. The saved version is always
        the stored one plus one, however many steps ``change`` made.
        ``WouldLockOut`` if the edit would leave no subject or mapped group
        able to manage RBAC; ``ConcurrentPolicyUpdate`` if contention persists.
        """
        for _ in range(_MAX_ATTEMPTS):
            stored = await self.store.load()
            current = stored or EMPTY_POLICY
            new = attrs.evolve(change(current), version=current.version + 1)
            mapped = (self.group_roles, self.subject_roles)
            if can_anyone_manage(current, *mapped) and not can_anyone_manage(new, *mapped):
                raise WouldLockOut(
                    "this change would leave nobody able to manage RBAC (no subject or mapped "
                    "group would be allowed rbac.manage); give another subject an admin role first"
                )
            if await self.store.save(new, None if stored is None else stored.version):
                self._remember(new, edited=True)
                return new
        raise ConcurrentPolicyUpdate()

    # -- decisions -------------------------------------------------------------

    async def roles_of(self, principal: Principal) -> tuple[str, ...]:
        """The role IDs ``principal`` acts with (``rbac.effective_roles``)."""
        return self._roles(await self.policy(), principal)

    async def decide(
        self, principal: Principal, action: str, resource: str = GLOBAL_RESOURCE
    ) -> Decision:
        """Whether ``principal`` may do ``action`` on ``resource`` (a unit ID,
        or ``GLOBAL_RESOURCE`` for actions on no unit), and why. Used as is by
        ``rbac test``; ``InvalidInput`` for an unknown action."""
        if not self.enabled:
            return disabled_decision(action, resource)
        authorizer = await self._current()
        roles = self._roles(authorizer.policy, principal)
        return authorizer.decide(roles, action, resource)

    async def check(
        self, principal: Principal, action: str, resource: str = GLOBAL_RESOURCE
    ) -> Decision:
        """``decide``, raising ``PermissionDenied`` (naming the action, the
        unit and why) unless allowed. Services call this before acting."""
        decision = await self.decide(principal, action, resource)
        if not decision.allowed:
            raise PermissionDenied(action, resource, decision.reason)
        return decision

    async def filter(
        self, principal: Principal, action: str, items: Iterable[T], key: Callable[[T], str]
    ) -> list[T]:
        """The items (in order) whose unit ID, ``key(item)``, ``principal``
        may ``action``: the same answer ``decide`` gives for each, computed
        in bulk for long lists."""
        if not self.enabled:
            return list(items)
        authorizer = await self._current()
        roles = self._roles(authorizer.policy, principal)
        return authorizer.filter(roles, action, items, key)

    async def read_access(self, principal: Principal, unit_id: str) -> ReadAccess:
        """How much of ``unit_id``'s state ``principal`` may read: all of it
        with ``unit.read``; only the non-sensitive outputs with
        ``unit.read_outputs`` alone. ``PermissionDenied`` naming
        ``unit.read`` when neither is allowed."""
        if not self.enabled:
            return ReadAccess.FULL
        authorizer = await self._current()
        roles = self._roles(authorizer.policy, principal)
        full = authorizer.decide(roles, Action.UNIT_READ, unit_id)
        if full.allowed:
            return ReadAccess.FULL
        if authorizer.allows(roles, Action.UNIT_READ_OUTPUTS, unit_id):
            return ReadAccess.OUTPUTS_ONLY
        raise PermissionDenied(Action.UNIT_READ, unit_id, full.reason)

    async def visible_state(self, access: ReadAccess, data: Payload) -> Payload:
        """``data`` as a caller with ``access`` may see it: unchanged for
        ``FULL``, else ``redaction.redact_to_outputs`` (``InvalidState`` if
        the stored state is not a format-4 state)."""
        if access is ReadAccess.FULL:
            return data
        if len(data) <= _INLINE_REDACT_LIMIT:
            return redact_to_outputs(data)
        return await anyio.to_thread.run_sync(redact_to_outputs, data)

    def _roles(self, policy: RbacPolicy, principal: Principal) -> tuple[str, ...]:
        return effective_roles(policy, principal, self.group_roles, self.subject_roles)

    # -- the cached, compiled policy ---------------------------------------------

    async def _current(self) -> Authorizer:
        if self._loaded_at is not None and self.clock.now() - self._loaded_at < self.max_age:
            return self._authorizer
        edits = self._edits
        loaded = await self.store.load() or EMPTY_POLICY
        if self._edits != edits and loaded.version < self._authorizer.policy.version:
            # A local edit landed while this load was in flight; never let
            # the older read replace what this process just saved.
            return self._authorizer
        return self._remember(loaded, edited=False)

    def _remember(self, policy: RbacPolicy, *, edited: bool) -> Authorizer:
        if edited:
            self._edits += 1
        if policy is not self._authorizer.policy and policy != self._authorizer.policy:
            self._authorizer = Authorizer(policy)
        if self.max_age > timedelta(0):
            self._loaded_at = self.clock.now()
        return self._authorizer
