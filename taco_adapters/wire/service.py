"""What the service says about itself: probes, ``/v1/info``, the JWKS, and
the plain messages some answers carry."""

from __future__ import annotations

from typing import Any

from attrs import frozen


@frozen
class ProbeDoc:
    """A probe's answer; ``error`` says why the service is not ready."""

    status: str
    service: str
    error: str | None = None


@frozen
class StorageDoc:
    """Which storage the server uses; ``bucket`` and ``prefix`` for S3."""

    type: str
    bucket: str | None = None
    prefix: str | None = None


@frozen
class InfoDoc:
    storage: StorageDoc


@frozen
class MessageDoc:
    """A sentence for people, where there is nothing else to say."""

    message: str


@frozen
class JwksDoc:
    """A JSON Web Key Set (RFC 7517): the public keys of our access tokens."""

    keys: list[dict[str, Any]]
