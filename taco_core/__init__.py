"""OpenTaco's domain: units, their locks and history, who may call, and the rules.

Pure Python (attrs and anyio only): no I/O, no framework. The names below are
the library's public API; everything a front end or a tool needs goes through
the use-case classes, ``StateService`` (units, locks, history), ``AuthService``
(logins, tokens), ``RbacService`` (authorization decisions) and ``RbacAdmin``
(managing roles and permissions), over the ports in ``taco_core.ports``, which
``taco_adapters`` implements by technology. ``GraphService`` keeps the
dependency graph between units up to date and says what needs re-applying.
The rules themselves stay in their modules (``guard``, ``locks``,
``retention``, ``diff``, ``state_doc``, ``graph_rules``), where the adapters
and the services call them.
"""

from __future__ import annotations

from taco_core.access import ALLOW_ALL, AccessControl, ReadAccess
from taco_core.auth import (
    ANONYMOUS,
    ApiToken,
    IssuedTokens,
    NewApiToken,
    Principal,
    PrincipalKind,
    RefreshToken,
    SigningKey,
)
from taco_core.auth_service import AuthPolicy, AuthService
from taco_core.caller import SYSTEM_CALLER, Caller, local_caller
from taco_core.diff import OutputChange, ResourceChange, StateDiff, diff_states
from taco_core.errors import (
    AlreadyAssigned,
    BodyTooLarge,
    ConcurrentPolicyUpdate,
    ConcurrentUpdate,
    Conflict,
    Forbidden,
    IdentityProviderUnavailable,
    InvalidInput,
    InvalidState,
    InvalidUnitId,
    LockConflict,
    NotAssigned,
    NotConfigured,
    NotFound,
    PermissionAlreadyExists,
    PermissionDenied,
    PermissionNotFound,
    ReservedUnitId,
    RoleAlreadyExists,
    RoleNotFound,
    StateRejected,
    StateTooLarge,
    StillReferenced,
    StorageUnavailable,
    TacoError,
    TokenNotFound,
    Unauthenticated,
    UnitAlreadyExists,
    UnitNotFound,
    VersionNotFound,
    WouldLockOut,
)
from taco_core.event_bus import EventBus
from taco_core.graph_service import GraphService
from taco_core.graph_status import Colour, GraphView, UnitStatus
from taco_core.model import (
    LockInfo,
    NewVersion,
    Payload,
    RetentionPolicy,
    StateFacts,
    StateVersion,
    Surface,
    Unit,
    UnitId,
    VersionPage,
    WriteResult,
)
from taco_core.ports import (
    AccessTokenCodec,
    AuthStore,
    Clock,
    DependencyGraph,
    EventSink,
    IdTokenVerifier,
    RbacStore,
    SigningKeyStore,
    StateControl,
    StateStore,
    TokenStore,
)
from taco_core.rbac import Action, Authorizer, Decision, Permission, RbacPolicy, Role, Rule
from taco_core.rbac_admin import RbacAdmin
from taco_core.rbac_service import RbacService
from taco_core.service import Policy, StateService
from taco_core.unit_id import parse_unit_id, parse_user_unit_id

__all__ = [
    "ALLOW_ALL",
    "ANONYMOUS",
    "SYSTEM_CALLER",
    "AccessControl",
    "AccessTokenCodec",
    "Action",
    "AlreadyAssigned",
    "ApiToken",
    "AuthPolicy",
    "AuthService",
    "AuthStore",
    "Authorizer",
    "BodyTooLarge",
    "Caller",
    "Clock",
    "Colour",
    "ConcurrentPolicyUpdate",
    "ConcurrentUpdate",
    "Conflict",
    "Decision",
    "DependencyGraph",
    "EventBus",
    "EventSink",
    "Forbidden",
    "GraphService",
    "GraphView",
    "IdTokenVerifier",
    "IdentityProviderUnavailable",
    "InvalidInput",
    "InvalidState",
    "InvalidUnitId",
    "IssuedTokens",
    "LockConflict",
    "LockInfo",
    "NewApiToken",
    "NewVersion",
    "NotAssigned",
    "NotConfigured",
    "NotFound",
    "OutputChange",
    "Payload",
    "Permission",
    "PermissionAlreadyExists",
    "PermissionDenied",
    "PermissionNotFound",
    "Policy",
    "Principal",
    "PrincipalKind",
    "RbacAdmin",
    "RbacPolicy",
    "RbacService",
    "RbacStore",
    "ReadAccess",
    "RefreshToken",
    "ReservedUnitId",
    "ResourceChange",
    "RetentionPolicy",
    "Role",
    "RoleAlreadyExists",
    "RoleNotFound",
    "Rule",
    "SigningKey",
    "SigningKeyStore",
    "StateControl",
    "StateDiff",
    "StateFacts",
    "StateRejected",
    "StateService",
    "StateStore",
    "StateTooLarge",
    "StateVersion",
    "StillReferenced",
    "StorageUnavailable",
    "Surface",
    "TacoError",
    "TokenNotFound",
    "TokenStore",
    "Unauthenticated",
    "Unit",
    "UnitAlreadyExists",
    "UnitId",
    "UnitNotFound",
    "UnitStatus",
    "VersionNotFound",
    "VersionPage",
    "WouldLockOut",
    "WriteResult",
    "diff_states",
    "local_caller",
    "parse_unit_id",
    "parse_user_unit_id",
]
