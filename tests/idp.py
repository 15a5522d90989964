"""A small stand-in OIDC provider for in-process tests of ID-token checks.

It serves a discovery document, a JWKS and a token endpoint (whose answer a
test sets) over real HTTP (stdlib server in a
thread, so any event loop can reach it) and mints ID tokens with its RSA keys,
good or deliberately broken. The end-to-end tests use the real npm
``oidc-provider`` instead (``tests/e2e/oidc``).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "opentaco-test-cli"


class FakeProvider:
    """Discovery + JWKS on a loopback port; ``mint`` signs ID tokens."""

    def __init__(self) -> None:
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "idp-1"})]
        self.jwks_requests = 0
        self.down = False
        # The token endpoint's answer (status, JSON) and the forms it was sent.
        self.token_reply: tuple[int, Any] = (200, {"id_token": "minted-id-token"})
        self.token_requests: list[dict[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> FakeProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def rotate(self, kid: str) -> None:
        """Sign with a new key from now on, publishing it next to the old one."""
        self.keys.append(RSAKey.generate_key(2048, parameters={"kid": kid}))

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": "alice",
            "email": "alice@example.test",
            "groups": ["platform"],
            "iat": now,
            "exp": now + 300,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(self, *, alg: str = "RS256", key: RSAKey | None = None, **overrides: Any) -> str:
        key = key or self.keys[-1]
        header = {"alg": alg, "kid": key.kid}
        return jwt.encode(header, self.claims(**overrides), key, algorithms=[alg])

    def _document(self, path: str) -> dict[str, Any] | None:
        if path == "/.well-known/openid-configuration":
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/auth",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        if path == "/jwks":
            self.jwks_requests += 1
            return {"keys": [k.as_dict(private=False) for k in self.keys]}
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                doc = None if provider.down else provider._document(self.path)
                body = json.dumps(doc).encode()
                self.send_response(200 if doc is not None else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                status, doc = (404, {"error": "not_found"})
                if self.path == "/token" and not provider.down:
                    provider.token_requests.append(form)
                    status, doc = provider.token_reply
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the tests assert on behaviour, not on access logs."""

        return Handler
