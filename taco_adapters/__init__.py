"""The core's ports implemented, one subpackage per technology.

- ``memory``: every storage port in process; the public fakes.
- ``sqlite``: the embedded default storage, one durable file.
- ``s3``: storage in an S3 bucket, beside plain Terraform's own objects.
- ``identity``: our access tokens (ES256 JWTs) and the OIDC provider's ID tokens.
- ``remote``: ``StateControl`` over HTTP, the client of a running ``opentacosvc``.
- ``wire``: the HTTP API's JSON shapes and error kinds, shared by server and clients.
- ``clock``: the system clock and a manual one for tests.

The technologies never import each other (import-linter holds it), so each can
be used, replaced or dropped on its own. Import the one you need; nothing is
imported here, so using SQLite never loads the S3 client.
"""

from __future__ import annotations

__all__ = ["clock", "identity", "memory", "remote", "s3", "sqlite", "timestamps", "wire"]
