"""Storage in an S3 bucket (AWS or any S3-compatible store), for any number of replicas.

``S3StateStore`` serves units, locks and history, including plain Terraform
and Terragrunt buckets as they are; ``S3AuthStore`` keeps tokens and signing
keys beside them, ``S3RbacStore`` the RBAC policy, ``S3AuditLog`` the audit
trail, ``S3DirectoryStore`` the TFE organizations and ``S3UploadStaging`` the S3
endpoint's multipart uploads. All work on an ``S3Bucket``: one client, one
bucket, the only code that talks to S3. ``opentacosvc`` opens one and shares it.
"""

from __future__ import annotations

from taco_adapters.s3.audit_log import S3AuditLog
from taco_adapters.s3.auth_store import S3AuthStore, S3SigningKeyStore, S3TokenStore
from taco_adapters.s3.bucket import S3Bucket
from taco_adapters.s3.directory_store import S3DirectoryStore
from taco_adapters.s3.rbac_store import S3RbacStore
from taco_adapters.s3.staging import S3UploadStaging
from taco_adapters.s3.state_store import S3StateStore

__all__ = [
    "S3AuditLog",
    "S3AuthStore",
    "S3Bucket",
    "S3DirectoryStore",
    "S3RbacStore",
    "S3SigningKeyStore",
    "S3StateStore",
    "S3TokenStore",
    "S3UploadStaging",
]
