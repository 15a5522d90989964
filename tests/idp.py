"""A small stand-in OIDC provider for in-process tests of ID-token checks.

It serves a discovery document and a JWKS over real HTTP (stdlib server in a
thread, so any event loop can reach it) and mints ID tokens with its RSA keys,
good or deliberately broken. The end-to-end tests use the real npm
``oidc-provider`` instead (``tests/e2e/oidc``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "opentaco-test-cli"


class FakeProvider:
    """Discovery + JWKS on a loopback port; ``mint`` signs ID tokens."""

    def __init__(self) -> None:
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "idp-1"})]
        self.jwks_requests = 0
        self.down = False
        # Authorization codes ``grant`` made: code -> (PKCE challenge, ID-token claims).
        self.codes: dict[str, tuple[str, dict[str, Any]]] = {}
        self.redeemed: list[dict[str, str]] = []
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

    def grant(self, code: str, challenge: str, **claims: Any) -> None:
        """Make ``code`` redeemable at ``/token`` by the holder of the PKCE
        verifier of ``challenge`` (S256), for an ID token with ``claims``."""
        self.codes[code] = (challenge, claims)

    def _redeem(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.redeemed.append(form)
        found = self.codes.pop(form.get("code", ""), None)
        if found is None:
            return 400, {"error": "invalid_grant", "error_description": "unknown code"}
        challenge, claims = found
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE mismatch"}
        return 200, {"id_token": self.mint(**claims), "token_type": "Bearer"}

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
                raw = self.rfile.read(length).decode()
                form = {k: v[-1] for k, v in urllib.parse.parse_qs(raw).items()}
                status, doc = (
                    provider._redeem(form) if self.path == "/token" else (404, {"error": "no"})
                )
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the tests assert on behaviour, not on access logs."""

        return Handler
