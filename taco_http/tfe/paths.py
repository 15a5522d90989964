"""Which paths belong to the Terraform-Cloud-compatible API, and which of
them need no API credential. Kept apart from the handlers so the auth
middleware and the error handlers can ask without importing them."""

from __future__ import annotations

API_PREFIXES = ("/api/v2", "/tfe/api/v2")
MOTD_PATH = "/api/terraform/motd"

# Reached without an API credential: discovery and what Terraform fetches
# before it has one, the login endpoints (they hand credentials out), and the
# signed uploads (the signature is the credential; their handlers check it).
PUBLIC_PATHS = frozenset(
    {
        "/.well-known/terraform.json",
        MOTD_PATH,
        "/app/settings/tokens",
        "/oauth/authorization",
        "/oauth/callback",
        "/oauth/token",
        *(f"{prefix}/ping" for prefix in API_PREFIXES),
    }
)
SIGNED_UPLOAD_SUFFIXES = ("/content", "/json-content")


def is_api_path(path: str) -> bool:
    """Whether ``path`` is under the API (its errors are JSON:API)."""
    return any(path == p or path.startswith(p + "/") for p in API_PREFIXES)


def is_public(method: str, path: str) -> bool:
    """Whether a request needs no API credential (see ``PUBLIC_PATHS``)."""
    if path in PUBLIC_PATHS:
        return True
    return (
        method == "PUT"
        and is_api_path(path)
        and "/state-versions/" in path
        and path.endswith(SIGNED_UPLOAD_SUFFIXES)
    )
