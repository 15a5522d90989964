"""Who is acting, through which front door, from where: the context of one use case.

Every use case of ``StateService`` takes a ``Caller`` so that authorization,
history (who wrote a version, through which surface) and the audit trail all
read the same facts, decided once by the front end that authenticated the
request. Internal work (the dependency graph's own writes, housekeeping) acts
as ``SYSTEM_CALLER``, which no credential can assert.
"""

from __future__ import annotations

from attrs import frozen

from taco_core.auth import Principal, PrincipalKind
from taco_core.model import Surface

__all__ = ["SYSTEM", "SYSTEM_CALLER", "Caller", "local_caller"]

# The principal the service itself acts as. Only code in this process builds
# it: authentication never yields a SYSTEM principal.
SYSTEM = Principal(subject="opentaco", kind=PrincipalKind.SYSTEM)


@frozen
class Caller:
    """The acting principal and where the request came from.

    ``surface`` is the front door (Terraform's HTTP backend, the management
    API, the CLI in embedded mode ...); ``origin`` the client's address when
    there is one; ``request_id`` ties history and audit records to the
    request's log lines.
    """

    principal: Principal
    surface: Surface
    origin: str = ""
    request_id: str = ""

    @property
    def is_system(self) -> bool:
        return self.principal.kind is PrincipalKind.SYSTEM


SYSTEM_CALLER = Caller(SYSTEM, Surface.SYSTEM)


def local_caller(who: str, surface: Surface = Surface.CLI) -> Caller:
    """A person working on a local store directly (``taco --embedded``):
    whoever can open the file can do anything, so such a caller is meant to
    be used with ``access.ALLOW_ALL``."""
    return Caller(Principal(subject=who, kind=PrincipalKind.USER), surface)
