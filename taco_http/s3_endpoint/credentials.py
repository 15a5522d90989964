"""The S3 endpoint's ``CredentialResolver``: access keys from ``taco creds``.

It turns the core's answers (``S3CredentialService.resolve``) into the S3
errors SigV4 clients know, so an SDK holding expired credentials hears
``ExpiredToken`` and fetches new ones from its ``credential_process``.
"""

from __future__ import annotations

import hmac

from attrs import frozen

from taco_core.auth import Principal
from taco_core.errors import CredentialExpired, CredentialRevoked, Unauthenticated
from taco_core.s3_credentials import S3CredentialService, access_key_id_for
from taco_http.s3api import SigningCredential
from taco_http.s3api.errors import AccessDenied, ExpiredToken, InvalidAccessKeyId, InvalidToken

_NO_TOKEN = (
    "OpenTaco's S3 credentials come with a session token: get all three from "
    "`taco creds --json` (credential_process in an AWS profile)."
)


@frozen
class TacoCredentials:
    """Resolves the credentials ``S3CredentialService`` issued."""

    service: S3CredentialService

    async def __call__(
        self, access_key_id: str, session_token: str | None, /
    ) -> SigningCredential[Principal]:
        if not session_token:
            raise InvalidToken(_NO_TOKEN)
        if not hmac.compare_digest(access_key_id, access_key_id_for(session_token)):
            raise InvalidAccessKeyId(AWSAccessKeyId=access_key_id)
        try:
            credentials = await self.service.resolve(access_key_id, session_token)
        except CredentialExpired:
            raise ExpiredToken(
                "The S3 credentials have expired; get new ones with `taco creds`."
            ) from None
        except CredentialRevoked as exc:
            raise AccessDenied(exc.message) from None
        except Unauthenticated as exc:
            raise InvalidToken(f"The session token is not valid: {exc.message}") from None
        assert credentials.principal is not None, "resolved credentials name their principal"
        return SigningCredential(credentials.secret_access_key, credentials.principal)
