"""The real app under uvicorn on loopback, for the S3 endpoint's tests with boto3.

boto3 needs a socket to talk to, so the app runs in a thread, auth on, on
memory storage. Its clock is the wall clock shifted by an offset a test may
change (credentials issued "two hours ago" are expired now), and its
``Services`` are captured from the first request so a test can reach them.
RBAC is on, as in production: the admin token holds ``admin``, and tests
grant other subjects roles through ``/v1/rbac``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import boto3  # type: ignore[import-untyped]
import botocore.config
import httpx
import uvicorn
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.types import ASGIApp, Receive, Scope, Send

from taco_adapters.memory import MemoryAuthStore, MemoryRbacStore, MemoryStateStore
from taco_http.app import create_app
from taco_http.context import STATE_KEY
from taco_http.settings import Settings
from taco_http.wiring import Adapters, Services
from tests.servers import free_port

REGION = "us-east-1"
MAX_STATE_BYTES = 16 * 1024 * 1024


class FixedPayloadSigner(S3SigV4Auth):
    """botocore's S3 signer, optionally told which ``x-amz-content-sha256`` to
    sign (a streaming mode) instead of the body's digest."""

    fixed_payload: str | None = None

    def payload(self, request: AWSRequest) -> str:
        if self.fixed_payload is not None:
            return self.fixed_payload
        digest: str = super().payload(request)
        return digest


class ShiftedClock:
    """The wall clock, moved by ``offset``."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


class Capture:
    """Keeps the ``Services`` the app's requests see."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.services: Services | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.services = scope["state"][STATE_KEY]
        await self.app(scope, receive, send)


@attrs.define
class S3Server:
    url: str
    admin: str
    clock: ShiftedClock
    capture: Capture
    clients: list[Any] = attrs.Factory(list)
    # One session: botocore loads its service models once per session.
    session: boto3.session.Session = attrs.Factory(boto3.session.Session)
    _admin_creds: dict[str, str] = attrs.Factory(dict)

    @property
    def services(self) -> Services:
        if self.capture.services is None:
            httpx.get(self.url + "/healthz")
        assert self.capture.services is not None
        return self.capture.services

    def api(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.admin}", **kw.pop("headers", {})}
        return httpx.request(method, self.url + path, headers=headers, **kw)

    def creds(self, token: str | None = None) -> dict[str, str]:
        """The credential_process document ``token`` (default: the admin's) gets."""
        reply = self.api("POST", "/v1/auth/issue-s3-creds", token)
        assert reply.status_code == 200, reply.text
        doc: dict[str, str] = reply.json()
        return doc

    def admin_creds(self) -> dict[str, str]:
        """The admin's credentials, issued once."""
        if not self._admin_creds:
            self._admin_creds.update(self.creds())
        return self._admin_creds

    def token(self, name: str) -> tuple[str, str]:
        """A new API token of the admin: its secret and ID."""
        reply = self.api("POST", "/v1/auth/tokens", json={"name": name})
        assert reply.status_code == 201, reply.text
        return reply.json()["token"], reply.json()["id"]

    def grant(self, subject: str, role: str, rules: Sequence[Mapping[str, Any]]) -> None:
        """A permission and a role named ``role`` with ``rules``, held by ``subject``."""
        for path, body in (
            ("/v1/rbac/permissions", {"id": role, "rules": list(rules)}),
            ("/v1/rbac/roles", {"id": role, "permissions": [role]}),
            ("/v1/rbac/users/assign", {"subject": subject, "role_id": role}),
        ):
            reply = self.api("POST", path, json=body)
            assert reply.status_code in (200, 201), reply.text

    def subject_token(self, subject: str, roles: Sequence[str] | None = None) -> str:
        """A new API token for ``subject`` (made by the admin), narrowed to ``roles``."""
        body: dict[str, Any] = {"name": f"t-{subject}", "subject": subject}
        if roles is not None:
            body["roles"] = list(roles)
        reply = self.api("POST", "/v1/auth/tokens", json=body)
        assert reply.status_code == 201, reply.text
        return str(reply.json()["token"])

    def s3(self, creds: Mapping[str, str] | None = None, **config: Any) -> Any:
        """A boto3 S3 client on the endpoint, path-style, no retries."""
        creds = creds or self.admin_creds()
        client = self.session.client(
            "s3",
            endpoint_url=self.url + "/s3",
            region_name=REGION,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds.get("SessionToken"),
            config=botocore.config.Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1, "mode": "standard"},
                **config,
            ),
        )
        self.clients.append(client)
        return client

    def signed(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
        creds: Mapping[str, str] | None = None,
        payload: str | None = None,
    ) -> httpx.Response:
        """One request signed by botocore's own SigV4 signer, sent as it was signed.
        ``payload`` forces the signed ``x-amz-content-sha256`` (a streaming mode)."""
        creds = creds or self.admin_creds()
        url = f"{self.url}{path}" + (f"?{query}" if query else "")
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        signer = FixedPayloadSigner(
            Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds.get("SessionToken")),
            "s3",
            REGION,
        )
        signer.fixed_payload = payload
        signer.add_auth(request)
        prepared = request.prepare()
        return httpx.request(
            method, prepared.url, headers=dict(prepared.headers.items()), content=body
        )


def run_server(tmp: Path) -> Iterator[S3Server]:
    token_file = tmp / "admin-token"
    settings = Settings(
        storage="memory", admin_token_path=token_file, max_state_bytes=MAX_STATE_BYTES
    )
    clock = ShiftedClock()
    adapters = Adapters(
        states=MemoryStateStore(), auth=MemoryAuthStore(), rbac=MemoryRbacStore(), clock=clock
    )
    capture = Capture(create_app(settings, adapters=adapters))
    port = free_port()
    config = uvicorn.Config(
        capture, host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(400):
        if server.started:
            started.set()
            break
        thread.join(0.05)
    assert started.is_set(), "uvicorn did not start"
    running = S3Server(f"http://127.0.0.1:{port}", token_file.read_text().strip(), clock, capture)
    try:
        yield running
    finally:
        for client in running.clients:
            client.close()
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive()
