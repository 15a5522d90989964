"""Request IDs: taken from X-Request-ID when acceptable, made up otherwise,
echoed on every answer (errors and 500s included), carried into the core's
records and into every log line written for the request, in both log formats."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from taco_http.app import create_app
from taco_http.logs import configure_logging
from taco_http.request_id import request_id_for
from taco_http.settings import Settings

GENERATED = re.compile(r"[0-9a-f]{32}")
STATE = b'{"version": 4, "serial": 1, "lineage": "l", "outputs": {}, "resources": []}'


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The service's logging, in JSON, into a buffer; restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffer = io.StringIO()
    configure_logging("info", "json", stream=buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.captureWarnings(False)


def records(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


@pytest.mark.parametrize(
    "sent",
    ["abc-123", "0af7651916cd43dd8448eb211c80319c", "trace:span/1+x=y@z.", "x" * 128],
)
def test_an_acceptable_id_is_kept(sent: str) -> None:
    """1-128 characters of letters, digits and ._:-+=@/ are kept as sent."""
    assert request_id_for(sent) == sent


@pytest.mark.parametrize("sent", [None, "", "x" * 129, "has space", "new\nline", "é", "a;b"])
def test_anything_else_is_replaced_by_a_fresh_id(sent: str | None) -> None:
    """Missing, empty, too long or unsafe IDs are replaced, each by a new one."""
    made = request_id_for(sent)
    assert GENERATED.fullmatch(made)
    assert request_id_for(sent) != made


def test_every_answer_echoes_the_id(tmp_path: Path) -> None:
    """200, 401 (before any route is chosen) and 405 all carry the ID."""
    settings = Settings(storage="memory", admin_token_path=tmp_path / "admin-token")
    with TestClient(create_app(settings)) as client:
        for method, path, status in [
            ("GET", "/healthz", 200),
            ("GET", "/v1/units", 401),
            ("GET", "/nowhere", 401),
            ("GET", "/v1/auth/me", 401),
            ("POST", "/healthz", 405),
            ("DELETE", "/v1/auth/tokens/nope", 401),
        ]:
            response = client.request(method, path, headers={"X-Request-ID": "req-7"})
            assert response.status_code == status
            assert response.headers["X-Request-ID"] == "req-7"
        made = client.get("/healthz").headers["X-Request-ID"]
        assert GENERATED.fullmatch(made)


def test_a_500_carries_the_id_and_so_does_its_log_line(log_lines: io.StringIO) -> None:
    """An unhandled error answers 500 with the ID, and its logged traceback
    names the same ID."""

    async def boom(request: Request) -> Response:
        raise RuntimeError("kaboom")

    app = create_app(Settings(storage="memory", auth_disable=True))
    app.router.routes.append(Route("/boom", boom))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "req-500"
    assert "kaboom" not in response.text
    failures = [r for r in records(log_lines) if r.get("exception")]
    assert failures
    assert all(r["request_id"] == "req-500" for r in failures)
    assert "RuntimeError: kaboom" in str(failures[0]["exception"])


def test_the_id_reaches_the_audit_trail(client: TestClient) -> None:
    """The ID sent with a write is the request_id of its audit record."""
    client.put("/v1/backend/app/prod", content=STATE, headers={"X-Request-ID": "req-audit"})
    page = client.get("/v1/audit", params={"unit": "app/prod"}).json()
    assert {r["action"]: r["request_id"] for r in page["records"]} == {
        "create": "req-audit",
        "state.write": "req-audit",
    }


def test_every_log_line_of_a_request_names_it(client: TestClient, log_lines: io.StringIO) -> None:
    """In JSON, the access line carries the ID, the method, the route template,
    the status and the duration; a line without a request has no ID."""
    client.get("/v1/units/app%2Fprod", headers={"X-Request-ID": "req-log"})
    logging.getLogger("opentaco").info("not about any request")
    lines = records(log_lines)
    access = [r for r in lines if r["logger"] == "opentaco.access"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == "req-log"
    assert line["level"] == "info"
    http = line["http"]
    assert isinstance(http, dict)
    assert (http["method"], http["route"], http["status"]) == ("GET", "/v1/units/{id}", 404)
    assert isinstance(http["duration_ms"], float)
    assert "request_id" not in lines[-1]
    assert set(lines[-1]) == {"time", "level", "logger", "message"}


def test_text_lines_name_the_request_too(client: TestClient) -> None:
    """The plain format puts the ID in brackets after the logger's name, and
    escapes a path that would break the line."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffer = io.StringIO()
    configure_logging("info", "text", stream=buffer)
    try:
        client.get("/v1/units/a%0Afake", headers={"X-Request-ID": "req-text"})
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.captureWarnings(False)
    (line,) = [x for x in buffer.getvalue().splitlines() if "opentaco.access" in x]
    assert " INFO opentaco.access [req-text]: GET /v1/units/a\\nfake 4" in line
