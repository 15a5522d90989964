"""The fuzz run: schemathesis sends generated requests, valid and malformed,
to every operation of the API description, in process, as an admin logged
in through OIDC (so the login endpoints are fuzzed against a provider too).

No answer may be a 5xx, and no request may raise out of the app (the
in-process transport re-raises what the app raised: a traceback fails the
test) or log an error; every answer must fit the description (status and
body shape). Bounded for CI: a fixed number of examples per operation,
derandomised, so a run takes the same time and finds the same things.

The admin is an admin by the group mapping (``OPENTACO_RBAC_GROUP_ROLES``),
which is configuration: whatever the generated RBAC edits do to the stored
policy, the caller stays an admin and every operation stays reachable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from taco_http.app import OPERATIONS, create_app
from taco_http.openapi import openapi_document
from taco_http.settings import Settings
from tests.idp import CLIENT_ID, FakeProvider

EXAMPLES_PER_OPERATION = 15
ADMINS = "platform"


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    """The app on SQLite with authentication on and OIDC login through a
    stand-in provider, started (schemathesis' in-process transport runs its
    lifespan), and an admin's access token obtained by a real login."""
    workdir = tmp_path_factory.mktemp("fuzz")
    provider = FakeProvider().start()
    app = create_app(
        Settings(
            storage="sqlite",
            sqlite_db_path=workdir / "taco.db",
            max_state_bytes=64_000,
            auth_issuer=provider.issuer,
            auth_client_id=CLIENT_ID,
            rbac_group_roles=f"{ADMINS}=admin",
        )
    )
    try:
        served = schemathesis.openapi.from_asgi("/v1/openapi.json", app)
        # What is fuzzed is what the app serves.
        assert served.raw_schema == DOCUMENT
        login = served["/v1/auth/exchange"]["POST"].Case(
            body={"id_token": provider.mint(groups=[ADMINS])}
        )
        reply = login.call(app=app)
        assert reply.status_code == 200, reply.text
        yield app, reply.json()["access_token"]
    finally:
        shutdown_lifespans()
        provider.stop()


# Loaded at collection, so each operation is a test of its own.
DOCUMENT = openapi_document(OPERATIONS)
schema = schemathesis.openapi.from_dict(DOCUMENT)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_fails_on_generated_requests(
    case: Any, fuzzed: tuple[Any, str], caplog: pytest.LogCaptureFixture
) -> None:
    """No generated or malformed request gets a 5xx, raises, or logs an error,
    and every answer fits the description."""
    app, token = fuzzed
    headers = {"Authorization": f"Bearer {token}"}
    caplog.clear()  # one test call runs every example: judge each on its own lines
    with caplog.at_level(logging.ERROR):
        try:
            response = case.call(app=app, headers=headers)
        except Exception as exc:
            raise AssertionError(f"the app raised on {case.method} {case.formatted_path}") from exc
        assert "Traceback (most recent call last)" not in response.text
        case.validate_response(
            response,
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ],
            headers=headers,
            transport_kwargs={"app": app},
        )
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
