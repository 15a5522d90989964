"""End-to-end helpers for S3 storage: ``opentacosvc`` processes on a SeaweedFS
bucket, and Terraform's own ``backend "s3"`` pointed at the same bucket.

The SeaweedFS server itself is ``tests/s3_server.py`` (one per session, from
the ``s3_server`` fixture in ``tests/conftest.py``); each test takes a fresh
bucket from it.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

from tests.s3_server import S3Server
from tests.servers import Server, start_server

S3_UNIT_FILE = "terraform.tfstate"


def s3_env(s3: S3Server) -> dict[str, str]:
    """The AWS credential chain of an ``opentacosvc`` process: this server's keys
    in the environment, and no shared config, profile or instance metadata that
    a developer's machine could slip in."""
    return {
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def s3_args(
    s3: S3Server, bucket: str, prefix: str = "", *, endpoint: str | None = None
) -> list[str]:
    """``opentacosvc`` flags for S3 storage on ``bucket`` under ``prefix``."""
    return [
        "--storage",
        "s3",
        "--s3-bucket",
        bucket,
        "--s3-prefix",
        prefix,
        "--s3-region",
        s3.region,
        "--s3-endpoint",
        endpoint or s3.endpoint_url,
    ]


class S3Services:
    """Starts ``opentacosvc`` processes on S3 storage for one test and stops
    every one after it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.started: list[Server] = []

    def __call__(self, s3: S3Server, bucket: str, prefix: str = "") -> Server:
        """A server on ``bucket`` under ``prefix``, in its own working directory
        (so a stray fallback to a local SQLite file could not be shared)."""
        server = start_server(
            self.base / f"svc{len(self.started)}",
            args=s3_args(s3, bucket, prefix),
            env=s3_env(s3),
        )
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


def state_key(prefix: str, unit: str) -> str:
    """Where a unit's state lives in the bucket: ``<prefix>/<unit>/terraform.tfstate``."""
    return f"{prefix}/{unit}/{S3_UNIT_FILE}" if prefix else f"{unit}/{S3_UNIT_FILE}"


def get_object(s3: S3Server, bucket: str, key: str) -> bytes:
    """An object's bytes, read with a plain S3 client."""
    body: bytes = s3.sync_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def object_exists(s3: S3Server, bucket: str, key: str) -> bool:
    listed = s3.sync_client().list_objects_v2(Bucket=bucket, Prefix=key)
    return any(item["Key"] == key for item in listed.get("Contents", []))


def snapshot(s3: S3Server, bucket: str) -> dict[str, Any]:
    """Every object in ``bucket`` with its ETag: equal snapshots mean nothing
    was written, replaced or deleted in between."""
    client = s3.sync_client()
    found: dict[str, Any] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            found[item["Key"]] = item["ETag"]
    return found


def s3_backend_block(s3: S3Server, bucket: str, key: str) -> str:
    """Terraform 1.15's own ``backend "s3"`` with S3-native locking
    (``use_lockfile``), on the SeaweedFS server, as in the test-tooling notes."""
    return textwrap.dedent(
        f"""\
        terraform {{
          backend "s3" {{
            bucket                      = "{bucket}"
            key                         = "{key}"
            region                      = "{s3.region}"
            endpoints                   = {{ s3 = "{s3.endpoint_url}" }}
            use_path_style              = true
            use_lockfile                = true
            skip_credentials_validation = true
            skip_requesting_account_id  = true
            skip_metadata_api_check     = true
            skip_region_validation      = true
            access_key                  = "{s3.access_key}"
            secret_key                  = "{s3.secret_key}"
          }}
        }}
        """
    )
