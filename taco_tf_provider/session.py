"""The provider's connection to the service, callable from ``tf``'s worker threads.

``tf`` serves Terraform's gRPC calls on a pool of plain threads, while the client
is async (and bound to the event loop it was created in). One anyio blocking
portal per provider process runs that loop in a thread of its own; every call
crosses into it with ``Session.call``, so concurrent Terraform operations share
one client and one connection pool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from anyio.from_thread import BlockingPortal

from taco_tf_provider.client import Connection
from taco_tf_provider.control import ProviderControl

T = TypeVar("T")


class Session:
    """A configured provider's client, its connection and the portal into its loop."""

    def __init__(
        self, portal: BlockingPortal, control: ProviderControl, connection: Connection
    ) -> None:
        self.portal = portal
        self.control = control
        self.connection = connection

    def call(self, operation: Callable[[ProviderControl], Awaitable[T]]) -> T:
        """Run ``operation(control)`` in the client's loop and wait for its result
        (its exception, if it raises)."""
        return self.portal.call(operation, self.control)

    def close(self) -> None:
        """Close the client's connections."""
        self.portal.call(self.control.aclose)
