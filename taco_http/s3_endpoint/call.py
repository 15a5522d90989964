"""One verified request to the S3 endpoint, as its handlers see it."""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping

from attrs import frozen

from taco_core.auth import Principal
from taco_core.caller import Caller
from taco_core.service import StateService
from taco_http.s3_endpoint.mapping import Buckets
from taco_http.s3api import ReceivedBody, S3Request, VerifiedRequest, read_payload
from taco_http.wiring import Services


@frozen
class S3Call:
    """The request, who signed it (as the core's ``Caller``), its decoded
    query, its body still unread, and the services to act with."""

    services: Services
    request: S3Request
    verified: VerifiedRequest[Principal]
    caller: Caller
    query: Mapping[str, str]
    body: AsyncIterable[bytes]
    buckets: Buckets
    request_id: str

    @property
    def states(self) -> StateService:
        return self.services.states

    async def payload(self, limit: int) -> ReceivedBody:
        """The uploaded object, every digest it was signed or sent with
        checked; at most ``limit`` bytes (``EntityTooLarge``)."""
        return await read_payload(self.verified, self.request, self.body, limit=limit)
