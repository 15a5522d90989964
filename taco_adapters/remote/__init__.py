"""The HTTP client of a running ``opentacosvc``.

``RemoteStateControl`` implements the core's ``StateControl`` port (what the
CLI, a Terraform provider or a script does with units), and
``RemoteDependencyGraph`` its ``DependencyGraph`` port (what needs
re-applying); ``RemoteAuth``, ``RemoteRbac`` and ``RemoteAuditTrail`` are the
server's auth, RBAC and audit APIs beside them. All send ``taco_adapters.wire``
shapes over one ``Transport`` each (timeouts, safe retries, Bearer tokens from
``Credentials`` and their renewal) and raise the core's ``TacoError`` classes,
plus ``ServerUnreachable`` and ``SessionExpired``, which only a client meets.
``CredentialsFile`` and ``SavedCredentials`` are the logins that ``taco
login`` saves for every client of the machine, and ``environment`` the
variables they all read.
"""

from __future__ import annotations

from taco_adapters.remote.audit import RemoteAuditTrail
from taco_adapters.remote.auth import RemoteAuth
from taco_adapters.remote.client import RemoteStateControl
from taco_adapters.remote.credentials import Credentials, Refresher, StaticToken
from taco_adapters.remote.credentials_file import (
    CredentialsFile,
    CredentialsFileError,
    Profile,
    SavedCredentials,
)
from taco_adapters.remote.environment import DEFAULT_SERVER, SERVER_ENV, TOKEN_ENV
from taco_adapters.remote.errors import ServerUnreachable, SessionExpired
from taco_adapters.remote.graph import RemoteDependencyGraph
from taco_adapters.remote.rbac import RemoteRbac
from taco_adapters.remote.transport import DEFAULT_RETRIES, DEFAULT_TIMEOUT, Trace

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_SERVER",
    "DEFAULT_TIMEOUT",
    "SERVER_ENV",
    "TOKEN_ENV",
    "Credentials",
    "CredentialsFile",
    "CredentialsFileError",
    "Profile",
    "Refresher",
    "RemoteAuditTrail",
    "RemoteAuth",
    "RemoteDependencyGraph",
    "RemoteRbac",
    "RemoteStateControl",
    "SavedCredentials",
    "ServerUnreachable",
    "SessionExpired",
    "StaticToken",
    "Trace",
]
