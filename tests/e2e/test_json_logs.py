"""The real ``opentacosvc`` with ``OPENTACO_LOG_FORMAT=json``: every line it
writes, on stdout and stderr, from start-up to shutdown, is one JSON object,
and the lines of a request sent with ``X-Request-ID`` carry that ID."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.servers import running_server

pytestmark = pytest.mark.e2e

STATE = b'{"version": 4, "serial": %d, "lineage": "%s", "outputs": {}, "resources": []}'


def test_every_line_is_one_json_object_naming_its_request(tmp_path: Path) -> None:
    """Start-up (the bootstrap token's announcement included), requests (a
    write, a refused write, a 401) and shutdown: all JSON, one per line."""
    with running_server(
        tmp_path / "svc", auth_disable=False, env={"OPENTACO_LOG_FORMAT": "json"}
    ) as server:
        token = (tmp_path / "svc" / "data" / "admin-token").read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, timeout=10) as client:
            ok = client.put(
                "/v1/backend/logs/app",
                content=STATE % (1, b"l"),
                headers={**auth, "X-Request-ID": "e2e-write"},
            )
            refused = client.put(
                "/v1/backend/logs/app",
                content=STATE % (2, b"other"),
                headers={**auth, "X-Request-ID": "e2e-refused"},
            )
            anonymous = client.get("/v1/units", headers={"X-Request-ID": "e2e-401"})
        assert (ok.status_code, refused.status_code, anonymous.status_code) == (200, 409, 401)
        assert ok.headers["X-Request-ID"] == "e2e-write"
    text = server.logs()
    lines = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(line, dict) for line in lines)
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line), line
    loggers = {line["logger"] for line in lines}
    assert {"opentaco", "opentaco.bootstrap", "opentaco.access", "uvicorn.error"} <= loggers
    statuses = {}
    for rid in ("e2e-write", "e2e-refused", "e2e-401"):
        access = [
            line
            for line in lines
            if line.get("request_id") == rid and line["logger"] == "opentaco.access"
        ]
        assert len(access) == 1, (rid, lines)
        statuses[rid] = (access[0]["http"]["method"], access[0]["http"]["status"])
    assert statuses == {
        "e2e-write": ("PUT", 200),
        "e2e-refused": ("PUT", 409),
        "e2e-401": ("GET", 401),
    }
    # The token file exists, so the JSON announcement names it, not the secret.
    assert token not in text
