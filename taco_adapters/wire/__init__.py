"""The API contract: every JSON shape the service and its clients share.

One definition serves both ends. The server (``taco_http``) renders the core's
objects with the ``*_json`` functions and structures request bodies with
``structure``; the HTTP client (``taco_adapters.remote``) renders requests with
``request_json`` and parses answers with the ``*_from_json`` functions; the
``taco`` CLI prints the same shapes with ``--json``, so a script can switch
between ``curl`` and ``taco --json``. Renderer and parser of a shape sit side
by side in one module, so the two ends cannot drift apart, and a new surface
puts its shapes here too.

Imports only ``taco_core`` (and attrs/cattrs): any adapter and any front end
may use it.
"""

from __future__ import annotations

from taco_adapters.wire.audit import (
    AuditPageDoc,
    audit_page_from_json,
    audit_page_json,
    audit_record_from_json,
    audit_record_json,
)
from taco_adapters.wire.auth_config import AuthConfig, auth_config_from_json, auth_config_json
from taco_adapters.wire.converter import converter, parse_time, rfc3339, structure
from taco_adapters.wire.diffs import DiffDoc, diff_from_json, diff_json
from taco_adapters.wire.errors import (
    ERRORS_BY_KIND,
    ErrorDoc,
    error_from_json,
    error_json,
    kind_of,
    rebuild,
)
from taco_adapters.wire.locks import (
    LOCK_FIELDS,
    TERRAFORM_LOCK_NAMES,
    held_lock_from_json,
    lock_from_json,
    lock_json,
    terraform_lock_json,
)
from taco_adapters.wire.requests import (
    CreateUnitRequest,
    ExchangeRequest,
    RefreshRequest,
    RestoreRequest,
    TokenRequest,
    UnlockRequest,
    request_json,
)
from taco_adapters.wire.schema import SchemaSet
from taco_adapters.wire.service import InfoDoc, JwksDoc, MessageDoc, ProbeDoc, StorageDoc
from taco_adapters.wire.tokens import (
    ApiTokenDoc,
    ApiTokenListDoc,
    IssuedTokensDoc,
    NewApiTokenDoc,
    PrincipalDoc,
    api_token_from_json,
    api_token_json,
    api_tokens_from_json,
    api_tokens_json,
    issued_tokens_from_json,
    issued_tokens_json,
    new_api_token_from_json,
    new_api_token_json,
    principal_from_json,
    principal_json,
)
from taco_adapters.wire.units import (
    CreatedUnitDoc,
    UnitDoc,
    UnitListDoc,
    created_unit_from_json,
    created_unit_json,
    unit_from_json,
    unit_json,
    units_from_json,
    units_json,
)
from taco_adapters.wire.versions import (
    QUARANTINED_HEADER,
    RECORD_HEADER,
    VERSION_HEADER,
    RestoredDoc,
    UploadDoc,
    VersionDoc,
    VersionPageDoc,
    restored_from_json,
    restored_json,
    upload_from_json,
    upload_json,
    version_from_headers,
    version_from_json,
    version_headers,
    version_json,
    versions_page_json,
)

__all__ = [
    "ERRORS_BY_KIND",
    "LOCK_FIELDS",
    "QUARANTINED_HEADER",
    "RECORD_HEADER",
    "TERRAFORM_LOCK_NAMES",
    "VERSION_HEADER",
    "ApiTokenDoc",
    "ApiTokenListDoc",
    "AuditPageDoc",
    "AuthConfig",
    "CreateUnitRequest",
    "CreatedUnitDoc",
    "DiffDoc",
    "ErrorDoc",
    "ExchangeRequest",
    "InfoDoc",
    "IssuedTokensDoc",
    "JwksDoc",
    "MessageDoc",
    "NewApiTokenDoc",
    "PrincipalDoc",
    "ProbeDoc",
    "RefreshRequest",
    "RestoreRequest",
    "RestoredDoc",
    "SchemaSet",
    "StorageDoc",
    "TokenRequest",
    "UnitDoc",
    "UnitListDoc",
    "UnlockRequest",
    "UploadDoc",
    "VersionDoc",
    "VersionPageDoc",
    "api_token_from_json",
    "api_token_json",
    "api_tokens_from_json",
    "api_tokens_json",
    "audit_page_from_json",
    "audit_page_json",
    "audit_record_from_json",
    "audit_record_json",
    "auth_config_from_json",
    "auth_config_json",
    "converter",
    "created_unit_from_json",
    "created_unit_json",
    "diff_from_json",
    "diff_json",
    "error_from_json",
    "error_json",
    "held_lock_from_json",
    "issued_tokens_from_json",
    "issued_tokens_json",
    "kind_of",
    "lock_from_json",
    "lock_json",
    "new_api_token_from_json",
    "new_api_token_json",
    "parse_time",
    "principal_from_json",
    "principal_json",
    "rebuild",
    "request_json",
    "restored_from_json",
    "restored_json",
    "rfc3339",
    "structure",
    "terraform_lock_json",
    "unit_from_json",
    "unit_json",
    "units_from_json",
    "units_json",
    "upload_from_json",
    "upload_json",
    "version_from_headers",
    "version_from_json",
    "version_headers",
    "version_json",
    "versions_page_json",
]
