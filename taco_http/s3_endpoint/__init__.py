"""The S3-compatible endpoint (``/s3``): Terraform's own ``s3`` backend over units.

``routes.S3Endpoint`` is the ASGI app the service mounts; ``mapping`` says
which bucket and key is which unit; ``objects``, ``listing`` and
``multipart`` serve the operations; ``errors`` maps the core's errors to S3's
once; ``credentials`` resolves the access keys ``taco creds`` hands out. The
protocol itself (SigV4, payloads, checksums, S3's error XML) is
``taco_http.s3api``'s.
"""

from __future__ import annotations

from taco_http.s3_endpoint.mapping import Buckets, ObjectKind, ObjectRef
from taco_http.s3_endpoint.routes import PREFIX, S3Endpoint

__all__ = ["PREFIX", "Buckets", "ObjectKind", "ObjectRef", "S3Endpoint"]
