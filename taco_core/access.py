"""What the use cases ask before they act: may this principal do this here?

``StateService`` asks an ``AccessControl`` and nothing else, so the decision is
made in one place whatever the front end. ``rbac_service.RbacService`` is the
real one; ``ALLOW_ALL`` stands in where there is nothing to decide
(authentication turned off, or ``taco`` working on a local file that anyone
who can open it could change anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Protocol, TypeVar

from taco_core.auth import Principal

__all__ = ["ALLOW_ALL", "AccessControl", "AllowAll", "ReadAccess"]

T = TypeVar("T")


class ReadAccess(StrEnum):
    """How much of a state a caller may read."""

    FULL = "full"
    OUTPUTS_ONLY = "outputs_only"


class AccessControl(Protocol):
    """Authorization decisions over unit IDs (``"*"`` for actions on no unit)."""

    async def check(self, principal: Principal, action: str, resource: str) -> object:
        """Return if ``principal`` may do ``action`` on ``resource``; else raise
        ``PermissionDenied`` naming the action, the unit and why."""
        ...

    async def filter(
        self, principal: Principal, action: str, items: Iterable[T], key: Callable[[T], str]
    ) -> list[T]:
        """The items, in order, whose unit ID ``key(item)`` ``principal`` may
        ``action``: the same answer ``check`` gives for each."""
        ...

    async def read_access(self, principal: Principal, unit_id: str) -> ReadAccess:
        """How much of the unit's state ``principal`` may read;
        ``PermissionDenied`` if nothing."""
        ...


class AllowAll:
    """Allows everything (see the module docstring for where that is right)."""

    async def check(self, principal: Principal, action: str, resource: str) -> object:
        return None

    async def filter(
        self, principal: Principal, action: str, items: Iterable[T], key: Callable[[T], str]
    ) -> list[T]:
        return list(items)

    async def read_access(self, principal: Principal, unit_id: str) -> ReadAccess:
        return ReadAccess.FULL


ALLOW_ALL: AccessControl = AllowAll()
