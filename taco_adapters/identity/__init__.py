"""Who is calling: our own access tokens and the OIDC provider's ID tokens.

``JoseAccessTokens`` is the ``AccessTokenCodec`` (ES256 JWTs signed with keys
from a ``SigningKeyStore``); ``OidcIdTokenVerifier`` is the
``IdTokenVerifier`` of one provider; ``discovery`` is the provider's
discovery document, shared with ``taco login``.
"""

from __future__ import annotations

from taco_adapters.identity.access_tokens import (
    InvalidKeyFile,
    JoseAccessTokens,
    generate_signing_key,
    signing_key_from_pem,
)
from taco_adapters.identity.oidc import OidcIdTokenVerifier, OidcSettings, provider_settings

__all__ = [
    "InvalidKeyFile",
    "JoseAccessTokens",
    "OidcIdTokenVerifier",
    "OidcSettings",
    "generate_signing_key",
    "provider_settings",
    "signing_key_from_pem",
]
