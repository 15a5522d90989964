"""Driving the web UI in-process: a signed-in browser over the real app.

``UiBrowser`` is a Starlette ``TestClient`` (which keeps cookies, as a
browser does) plus the CSRF token of the last page, so a test can submit a
form the way the page's own form would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from taco_adapters.clock import SystemClock
from taco_adapters.memory import MemoryAuthStore, MemoryRbacStore, MemoryStateStore
from taco_http.app import create_app
from taco_http.settings import Settings
from taco_http.wiring import Adapters

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def state(serial: int, *, lineage: str = "lin-1", secret: str = "s3cr3t-pw", **attrs: Any) -> bytes:
    """A format-4 state with one resource (attributes ``attrs``), a public
    and a sensitive output."""
    return json.dumps(
        {
            "version": 4,
            "terraform_version": "1.15.5",
            "serial": serial,
            "lineage": lineage,
            "outputs": {
                "endpoint": {"value": f"db-{serial}.internal", "type": "string"},
                "password": {"value": secret, "type": "string", "sensitive": True},
            },
            "resources": [
                {
                    "mode": "managed",
                    "type": "terraform_data",
                    "name": "db",
                    "instances": [{"attributes": {"id": "db", **attrs}}],
                }
            ],
        }
    ).encode()


class UiBrowser:
    """A browser on the app: its own cookies, the last page's CSRF token at
    hand. Browsers share the app's one ``TestClient`` (its lifespan holds the
    services and sessions), swapping their cookie jars in for each request."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.jar: Any = type(client.cookies)()
        self.csrf = ""

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("follow_redirects", False)
        self.client.cookies = self.jar
        try:
            response = self.client.request(method, path, **kwargs)
        finally:
            self.jar = type(self.client.cookies)(self.client.cookies)
            self.client.cookies = type(self.client.cookies)()
        found = CSRF.search(response.text) if response.content else None
        if found:
            self.csrf = found.group(1)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, form: dict[str, str], *, csrf: bool = True, **kwargs: Any) -> Any:
        data = {"csrf_token": self.csrf, **form} if csrf else form
        return self.request("POST", path, data=data, **kwargs)

    def follow(self, response: Any) -> Any:
        assert response.status_code in (303, 307), response.text
        return self.get(response.headers["location"])

    def login(self, token: str) -> Any:
        self.get("/ui/login")
        response = self.post("/ui/login", {"token": token})
        assert response.status_code == 303, response.text
        return response


class App:
    """The app with auth on, its bootstrap admin token and API helpers."""

    def __init__(self, client: TestClient, admin: str) -> None:
        self.client = client
        self.admin = admin

    def api(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = self.client.request(method, path, json=body, headers=bearer(self.admin))
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def write(self, unit: str, data: bytes) -> None:
        response = self.client.post(f"/v1/backend/{unit}", content=data, headers=bearer(self.admin))
        assert response.status_code == 200, response.text

    def token(self, subject: str) -> str:
        body = {"name": f"t-{subject}", "subject": subject}
        return str(self.api("POST", "/v1/auth/tokens", body, 201)["token"])

    def grant(self, subject: str, role: str, actions: list[str], pattern: str = "*") -> str:
        """A role ``role`` allowing ``actions`` on ``pattern``, held by
        ``subject``; returns a token for ``subject``."""
        rule = {"effect": "allow", "actions": actions, "resources": [pattern]}
        self.api("POST", "/v1/rbac/permissions", {"id": role, "rules": [rule]}, status=201)
        self.api("POST", "/v1/rbac/roles", {"id": role, "permissions": [role]})
        self.api("POST", "/v1/rbac/users/assign", {"subject": subject, "role_id": role})
        return self.token(subject)

    def browser(self, token: str | None = None) -> UiBrowser:
        """A new browser on the app, signed in with ``token`` when given."""
        browser = UiBrowser(self.client)
        if token is not None:
            browser.login(token)
        return browser


def start(settings: Settings) -> TestClient:
    adapters = Adapters(
        states=MemoryStateStore(),
        auth=MemoryAuthStore(),
        rbac=MemoryRbacStore(),
        clock=SystemClock(),
    )
    return TestClient(create_app(settings, adapters=adapters))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    token_file = tmp_path / "admin-token"
    with start(Settings(storage="memory", admin_token_path=token_file)) as client:
        yield App(client, token_file.read_text().strip())
