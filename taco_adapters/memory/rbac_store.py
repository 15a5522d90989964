"""In-process ``RbacStore``: a public fake, and the store of a server on
memory storage, where nothing outlives the process anyway.

``save`` does not await between its check and its write, so on one event
loop it is atomic without a lock, as the port requires. Policies are frozen,
so keeping the object itself round-trips every field.
"""

from __future__ import annotations

from taco_core.rbac import RbacPolicy


class MemoryRbacStore:
    """The RBAC policy document in a variable."""

    def __init__(self) -> None:
        self._policy: RbacPolicy | None = None

    async def load(self) -> RbacPolicy | None:
        return self._policy

    async def save(self, policy: RbacPolicy, expected_version: int | None) -> bool:
        current = None if self._policy is None else self._policy.version
        if current != expected_version:
            return False
        self._policy = policy
        return True
