"""S3 credentials on the wire: AWS's ``credential_process`` document.

``POST /v1/auth/issue-s3-creds`` answers it and ``taco creds --json`` prints
it unchanged, so an AWS profile's ``credential_process = taco creds --json``
hands it straight to the SDK (Terraform's ``s3`` backend, the AWS CLI,
boto3). The shape is AWS's: ``Version`` 1, the three credentials, and
``Expiration`` in RFC 3339, after which the SDK runs the process again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from attrs import frozen

from taco_adapters.wire.converter import parse_time
from taco_core.errors import InvalidInput
from taco_core.s3_credentials import S3Credentials

CREDENTIAL_PROCESS_VERSION = 1
# The document's keys are AWS's; ``CredentialProcessDoc`` spells them in Python.
CREDENTIAL_PROCESS_NAMES = {
    "version": "Version",
    "access_key_id": "AccessKeyId",
    "secret_access_key": "SecretAccessKey",
    "session_token": "SessionToken",
    "expiration": "Expiration",
}


@frozen
class CredentialProcessDoc:
    """S3 credentials as AWS's ``credential_process`` document (keys as in
    ``CREDENTIAL_PROCESS_NAMES``), for the API description."""

    version: Literal[1]
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime


def s3_credentials_json(credentials: S3Credentials) -> dict[str, Any]:
    """The ``credential_process`` document of ``credentials``."""
    expires = credentials.expires.astimezone(UTC).replace(microsecond=0, tzinfo=None)
    return {
        "Version": CREDENTIAL_PROCESS_VERSION,
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
        "SessionToken": credentials.session_token,
        "Expiration": expires.isoformat() + "Z",
    }


def s3_credentials_from_json(doc: Mapping[str, Any]) -> S3Credentials:
    """Credentials from a ``credential_process`` document."""
    try:
        if doc["Version"] != CREDENTIAL_PROCESS_VERSION:
            raise InvalidInput(f"unknown credential_process Version {doc['Version']!r}")
        return S3Credentials(
            access_key_id=str(doc["AccessKeyId"]),
            secret_access_key=str(doc["SecretAccessKey"]),
            session_token=str(doc["SessionToken"]),
            expires=parse_time(str(doc["Expiration"])),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidInput(f"not a credential_process document: {exc}") from None
