"""No unit ID, number or JSON body a client can send reaches a 500 on the
backend and units routes (Hypothesis, in process, on SQLite).

Where schemathesis (``test_fuzz.py``) sends what the API description says
each operation takes, these properties aim at what the description cannot
say: any text as a unit ID, any spelling of a number, any JSON document,
deep nesting and integers of thousands of digits included, through every
route that reads one. Known 500s the hardening branch fixes are tolerated by
``tests/http/known_500s.py`` only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from taco_http.app import create_app
from taco_http.settings import Settings
from tests.http import known_500s

STATE = b'{"version": 4, "serial": 1, "lineage": "lin", "outputs": {}, "resources": []}'
FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app on SQLite for the module; server errors come back as 500s."""
    db = Path(tmp_path_factory.mktemp("no500")) / "taco.db"
    settings_ = Settings(storage="sqlite", sqlite_db_path=db, auth_disable=True)
    with TestClient(create_app(settings_), raise_server_exceptions=False) as c:
        c.put("/v1/backend/fuzz/unit", content=STATE)
        yield c


def check(
    client: TestClient,
    method: str,
    url: str,
    template: str,
    *,
    body: Any = known_500s.NO_BODY,
    raw: bytes | None = None,
    values: tuple[object, ...] = (),
) -> None:
    """Send one request; anything but a known defect must answer below 500."""
    content = raw if raw is not None else None
    if raw is None and body is not known_500s.NO_BODY:
        content = json.dumps(body).encode()
    response = client.request(method, url, content=content)
    if response.status_code < 500:
        return
    known = known_500s.known_http_defect(method, template, body=body, raw=raw, values=values)
    assert known is not None, (method, url, content[:300] if content else b"", response.text)


unit_ids = st.one_of(
    st.text(min_size=1, max_size=300),
    st.text(alphabet="abc._-/_%2F", min_size=1, max_size=40),
    st.lists(
        st.sampled_from(["a", "..", ".", "__", "x__y", "lock", "versions", "1"]), min_size=1
    ).map("/".join),
)


@FUZZ
@given(raw_id=unit_ids)
def test_no_unit_id_reaches_a_500(client: TestClient, raw_id: str) -> None:
    """Any text as a unit ID, raw or encoded, on every route that takes one."""
    path = quote(raw_id, safe="/")
    encoded = quote(raw_id, safe="")
    backend = f"/v1/backend/{path}"
    check(client, "GET", backend, "/v1/backend/{id}")
    check(client, "POST", backend, "/v1/backend/{id}", raw=STATE)
    check(client, "LOCK", backend, "/v1/backend/{id}", body={"ID": "L1"})
    check(client, "UNLOCK", backend, "/v1/backend/{id}", raw=b"")
    check(client, "DELETE", backend, "/v1/backend/{id}")
    for unit in (path, encoded):
        base = f"/v1/units/{unit}"
        check(client, "GET", base, "/v1/units/{id}")
        check(client, "GET", f"{base}/download", "/v1/units/{id}/download")
        check(client, "GET", f"{base}/versions", "/v1/units/{id}/versions")
        check(client, "GET", f"{base}/versions/1", "/v1/units/{id}/versions/{n}")
        check(client, "GET", f"{base}/diff", "/v1/units/{id}/diff")
        check(client, "POST", f"{base}/upload", "/v1/units/{id}/upload", raw=STATE)
        check(client, "POST", f"{base}/lock", "/v1/units/{id}/lock", body={"id": "L2"})
        check(client, "DELETE", f"{base}/unlock?force=true", "/v1/units/{id}/unlock")
        check(client, "POST", f"{base}/restore", "/v1/units/{id}/restore", body={"version": 1})
        check(client, "DELETE", base, "/v1/units/{id}")
        check(client, "POST", f"{base}/undelete", "/v1/units/{id}/undelete")
    check(client, "POST", "/v1/units", "/v1/units", body={"id": raw_id})
    check(client, "GET", f"/v1/units?prefix={encoded}", "/v1/units", values=(raw_id,))


numbers = st.one_of(
    st.integers(),
    st.integers(min_value=2**62, max_value=10**40),
    st.integers(min_value=-(10**40), max_value=-1),
    # Superscripts and Arabic-Indic and Devanagari digits: isdigit() says yes.
    st.text(
        alphabet="0123456789\u00b2\u00b3\u00b9\u0660\u0661\u0662\u096a-+. e", max_size=30
    ).filter(bool),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)


@FUZZ
@given(number=numbers)
def test_no_number_reaches_a_500(client: TestClient, number: int | str) -> None:
    """Any spelling of a number in every numeric parameter and field."""
    text = quote(str(number), safe="")
    base = "/v1/units/fuzz/unit"
    values = (number,)
    check(client, "GET", f"{base}/versions?limit={text}", "/v1/units/{id}/versions", values=values)
    check(client, "GET", f"{base}/versions?offset={text}", "/v1/units/{id}/versions", values=values)
    check(client, "GET", f"{base}/versions/{text}", "/v1/units/{id}/versions/{n}", values=values)
    check(client, "GET", f"{base}/diff?from={text}", "/v1/units/{id}/diff", values=values)
    check(client, "GET", f"{base}/diff?to={text}", "/v1/units/{id}/diff", values=values)
    check(
        client,
        "POST",
        f"{base}/restore",
        "/v1/units/{id}/restore",
        body={"version": number},
        values=values,
    )
    state = json.loads(STATE)
    state["serial"] = number
    check(client, "POST", "/v1/backend/fuzz/numbers", "/v1/backend/{id}", body=state)
    check(client, "POST", f"{base}2/upload", "/v1/units/{id}/upload", body=state)


json_docs = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**320)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
bodies = st.one_of(
    json_docs,
    st.dictionaries(
        st.sampled_from(["id", "ID", "Id", "who", "version", "timestamp", "lock_id", "labels"]),
        json_docs,
    ),
)


@FUZZ
@given(body=bodies)
def test_no_json_body_reaches_a_500(client: TestClient, body: Any) -> None:
    """Any JSON document on every route that reads one."""
    base = "/v1/units/fuzz/unit"
    check(client, "POST", "/v1/units", "/v1/units", body=body)
    check(client, "PUT", "/v1/backend/fuzz/json", "/v1/backend/{id}", body=body)
    check(client, "POST", f"{base}3/upload", "/v1/units/{id}/upload", body=body)
    check(client, "LOCK", "/v1/backend/fuzz/json", "/v1/backend/{id}", body=body)
    check(client, "UNLOCK", "/v1/backend/fuzz/json", "/v1/backend/{id}", body=body)
    check(client, "POST", f"{base}/lock", "/v1/units/{id}/lock", body=body)
    check(client, "POST", f"{base}/unlock", "/v1/units/{id}/unlock", body=body)
    check(client, "POST", f"{base}/restore", "/v1/units/{id}/restore", body=body)
    check(client, "POST", f"{base}/unlock?force=true", "/v1/units/{id}/unlock", body=body)


def nested(depth: int) -> bytes:
    return b'{"serial": 1, "lineage": "x", "n": ' + b"[" * depth + b"1" + b"]" * depth + b"}"


def long_integer(digits: int) -> bytes:
    return b'{"serial": ' + b"9" * digits + b', "lineage": "x", "version": ' + b"7" * digits + b"}"


extreme_json = st.one_of(
    st.integers(min_value=100, max_value=5000).map(nested),
    st.integers(min_value=20, max_value=9000).map(long_integer),
    st.sampled_from(
        [
            b'{"id": "\\ud800", "serial": 1}',
            b'{"serial": NaN, "lineage": Infinity}',
            b'{"serial": 1, "serial": "two"}',
            b"\xef\xbb\xbf{}",
            b'{"id": "\xff\xfe"}',
            b"[" * 100_000,
        ]
    ),
)


@FUZZ
@given(raw=extreme_json)
def test_no_extreme_json_reaches_a_500(client: TestClient, raw: bytes) -> None:
    """Deep nesting, integers of thousands of digits, lone surrogates and other
    JSON that parsers choke on, on every route that reads a body."""
    base = "/v1/units/fuzz/unit"
    check(client, "POST", "/v1/units", "/v1/units", raw=raw)
    check(client, "PUT", "/v1/backend/fuzz/raw", "/v1/backend/{id}", raw=raw)
    check(client, "POST", f"{base}4/upload", "/v1/units/{id}/upload", raw=raw)
    check(client, "LOCK", "/v1/backend/fuzz/raw", "/v1/backend/{id}", raw=raw)
    check(client, "UNLOCK", "/v1/backend/fuzz/raw", "/v1/backend/{id}", raw=raw)
    check(client, "POST", f"{base}/lock", "/v1/units/{id}/lock", raw=raw)
    check(client, "POST", f"{base}/unlock?force=true", "/v1/units/{id}/unlock", raw=raw)
    check(client, "POST", f"{base}/restore", "/v1/units/{id}/restore", raw=raw)


@FUZZ
@given(
    stamp=st.one_of(st.datetimes().map(str), st.datetimes().map(lambda d: d.isoformat()), st.text())
)
def test_no_restore_timestamp_reaches_a_500(client: TestClient, stamp: str) -> None:
    """Any text as a restore timestamp."""
    check(
        client,
        "POST",
        "/v1/units/fuzz/unit/restore",
        "/v1/units/{id}/restore",
        body={"timestamp": stamp},
    )
