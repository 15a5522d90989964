"""OpenTaco's domain: units, their locks and history, who may call, and the rules.

Pure Python (attrs and anyio only): no I/O, no framework. The names below are
the library's public API; everything a front end or a tool needs goes through
the two use-case classes, ``StateService`` (units, locks, history) and
``AuthService`` (logins, tokens), over the ports in ``taco_core.ports``, which
``taco_adapters`` implements by technology. The rules themselves stay in their
modules (``guard``, ``locks``, ``retention``, ``diff``, ``state_doc``), where
the adapters and the services call them.
"""

from __future__ import annotations

from taco_core.auth import (
    ADMIN_GROUP,
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
from taco_core.diff import OutputChange, ResourceChange, StateDiff, diff_states
from taco_core.errors import (
    BodyTooLarge,
    ConcurrentUpdate,
    Conflict,
    Forbidden,
    IdentityProviderUnavailable,
    InvalidInput,
    InvalidState,
    InvalidUnitId,
    LockConflict,
    NotConfigured,
    NotFound,
    ReservedUnitId,
    StateRejected,
    StateTooLarge,
    StorageUnavailable,
    TacoError,
    TokenNotFound,
    Unauthenticated,
    UnitAlreadyExists,
    UnitNotFound,
    VersionNotFound,
)
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
    IdTokenVerifier,
    SigningKeyStore,
    StateControl,
    StateStore,
    TokenStore,
)
from taco_core.service import Policy, StateService
from taco_core.unit_id import parse_unit_id, parse_user_unit_id

__all__ = [
    "ADMIN_GROUP",
    "ANONYMOUS",
    "AccessTokenCodec",
    "ApiToken",
    "AuthPolicy",
    "AuthService",
    "AuthStore",
    "BodyTooLarge",
    "Clock",
    "ConcurrentUpdate",
    "Conflict",
    "Forbidden",
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
    "NotConfigured",
    "NotFound",
    "OutputChange",
    "Payload",
    "Policy",
    "Principal",
    "PrincipalKind",
    "RefreshToken",
    "ReservedUnitId",
    "ResourceChange",
    "RetentionPolicy",
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
    "VersionNotFound",
    "VersionPage",
    "WriteResult",
    "diff_states",
    "parse_unit_id",
    "parse_user_unit_id",
]
