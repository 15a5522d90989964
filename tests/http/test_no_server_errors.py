"""No input reaches a 500: generated unit IDs, numbers, query parameters and
JSON bodies sent to the backend, management, graph and audit routes get an answer
below 500 (4xx for what is wrong), never an unhandled error. SQLite is the
store: it is the one that refuses what Python would accept (64-bit integers,
text that is not UTF-8).

Where schemathesis (``test_fuzz.py``) sends what the API description says
each operation takes, these properties aim at what the description cannot
say: any text as a unit ID, any spelling of a number, any JSON document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from taco_http.app import create_app
from taco_http.settings import Settings

METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "LOCK", "UNLOCK", "PATCH"]
ACTIONS = [
    "",
    "download",
    "upload",
    "lock",
    "unlock",
    "versions",
    "restore",
    "undelete",
    "diff",
    "status",
]

# Text that probes every edge: ID characters, separators, encodings, digits
# that are not ASCII, NUL, lone surrogates.
PIECES = [
    "a",
    "Z",
    "0",
    "9",
    ".",
    "-",
    "_",
    "/",
    "%",
    "__",
    "²",
    "٣",
    "é",
    "terraform.tfstate",
    ".lock",
    "..",
    "__opentaco_",
]
edgy_text = st.lists(st.sampled_from([*PIECES, " ", "\x00", "\ud800", "\udfff"]), max_size=12).map(
    "".join
)

numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 10**4000]),
)
odd_numbers = ["²", "٣", "1e3", "0x10", "", " 1", "-0", "0" * 5000 + "1", "9" * 5000]
number_text = st.one_of(numbers.map(str), st.sampled_from(odd_numbers))

KEYS = [
    "ID",
    "id",
    "serial",
    "lineage",
    "version",
    "timestamp",
    "lock_id",
    "name",
    "labels",
    "expires_in",
    "Who",
    "x",
]
json_scalars = st.one_of(st.none(), st.booleans(), numbers, st.floats(allow_nan=False), edgy_text)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from([*KEYS, "\ud800"]), children, max_size=4)
    ),
    max_leaves=16,
)


def _dump(value: Any) -> bytes:
    # ensure_ascii: lone surrogates travel as "\ud800" escapes, as a client would send them.
    return json.dumps(value).encode()


bodies = st.one_of(
    st.just(b""),
    json_values.map(_dump),
    st.binary(max_size=40),
    st.integers(250, 1200).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.integers(250, 1200).map(lambda n: b"[" * n + b"]" * n),
    st.just(b'{"serial": ' + b"9" * 5000 + b"}"),
    st.builds(
        lambda serial, lineage, rest: _dump(
            {"version": 4, "serial": serial, "lineage": lineage, "outputs": rest}
        ),
        st.integers(0, 3) | numbers,
        edgy_text,
        json_values,
    ),
)
queries = st.dictionaries(
    st.sampled_from(["limit", "offset", "from", "to", "force", "prefix", "deleted",
                     "if_locked_by", "ID"]),
    st.one_of(number_text, edgy_text),
    max_size=3,
)  # fmt: skip


@pytest.fixture
def sqlite_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(storage="sqlite", sqlite_db_path=tmp_path / "taco.db", auth_disable=True)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _path_part(text: str) -> str:
    # Any text, percent-encoded as UTF-8 (lone surrogates as the bytes Python would use).
    return quote(text.encode("utf-8", "surrogatepass"), safe="/")


def _check(client: TestClient, method: str, url: str, body: bytes) -> None:
    r = client.request(method, url, content=body)
    assert r.status_code < 500, (method, url, body[:200], r.status_code, r.text[:300])


FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(method=st.sampled_from(METHODS), unit=edgy_text, query=queries, body=bodies)
def test_backend_never_answers_500(
    sqlite_client: TestClient, method: str, unit: str, query: dict[str, str], body: bytes
) -> None:
    """Whatever ID, query and body reach /v1/backend, the answer is below 500."""
    query_string = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in query.items()})
    _check(sqlite_client, method, f"/v1/backend/{_path_part(unit)}?{query_string}", body)


@FUZZ
@given(
    method=st.sampled_from(METHODS),
    unit=edgy_text,
    action=st.sampled_from([*ACTIONS, "versions/"]),
    number=number_text,
    query=queries,
    body=bodies,
)
def test_management_api_never_answers_500(
    sqlite_client: TestClient,
    method: str,
    unit: str,
    action: str,
    number: str,
    query: dict[str, str],
    body: bytes,
) -> None:
    """Whatever ID, action, version number, query and body reach /v1/units,
    the answer is below 500; a unit that exists is there to be acted on."""
    sqlite_client.post("/v1/backend/fuzz/u", content=b'{"serial": 1, "lineage": "L"}')
    target = _path_part(unit) if unit else "fuzz/u"
    if action == "versions/":
        action += _path_part(number)
    path = f"/v1/units/{target}/{action}".rstrip("/")
    query_string = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in query.items()})
    _check(sqlite_client, method, f"{path}?{query_string}", body)


@FUZZ
@given(method=st.sampled_from(["GET", "POST"]), query=queries, body=bodies)
def test_unit_listing_and_creation_never_answer_500(
    sqlite_client: TestClient, method: str, query: dict[str, str], body: bytes
) -> None:
    """Listing with any prefix and creating with any body answer below 500."""
    query_string = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in query.items()})
    _check(sqlite_client, method, f"/v1/units?{query_string}", body)


@FUZZ
@given(body=bodies)
def test_token_creation_never_answers_500(tmp_path: Path, body: bytes) -> None:
    """Any token request body answers below 500 (auth on, bootstrap admin token)."""
    settings = Settings(storage="memory", admin_token_path=tmp_path / "admin-token")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        token = (tmp_path / "admin-token").read_text().strip()
        r = client.post(
            "/v1/auth/tokens", content=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code < 500, (body[:200], r.status_code, r.text[:300])


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
def test_extreme_json_never_answers_500(sqlite_client: TestClient, raw: bytes) -> None:
    """Deep nesting, integers of thousands of digits, lone surrogates and other
    JSON that parsers choke on, on every route that reads a body."""
    base = "/v1/units/fuzz/unit"
    for method, url in [
        ("POST", "/v1/units"),
        ("PUT", "/v1/backend/fuzz/raw"),
        ("POST", f"{base}4/upload"),
        ("LOCK", "/v1/backend/fuzz/raw"),
        ("UNLOCK", "/v1/backend/fuzz/raw"),
        ("POST", f"{base}/lock"),
        ("POST", f"{base}/unlock?force=true"),
        ("POST", f"{base}/restore"),
    ]:
        _check(sqlite_client, method, url, raw)


@FUZZ
@given(
    stamp=st.one_of(st.datetimes().map(str), st.datetimes().map(lambda d: d.isoformat()), edgy_text)
)
def test_restore_timestamps_never_answer_500(sqlite_client: TestClient, stamp: str) -> None:
    """Any text as a restore timestamp, with or without a time zone."""
    sqlite_client.post("/v1/backend/fuzz/u", content=b'{"serial": 1, "lineage": "L"}')
    _check(sqlite_client, "POST", "/v1/units/fuzz/u/restore", _dump({"timestamp": stamp}))


audit_queries = st.dictionaries(
    st.sampled_from(["unit", "subject", "since", "limit", "after"]),
    st.one_of(
        number_text,
        edgy_text,
        st.datetimes().map(lambda d: d.isoformat()),
        st.sampled_from(["7d", "1h", "99999999999d", "-1d", "20260101T000000000000Z-000000abcdef"]),
    ),
    max_size=4,
)


@FUZZ
@given(method=st.sampled_from(METHODS), query=audit_queries)
def test_audit_queries_never_answer_500(
    sqlite_client: TestClient, method: str, query: dict[str, str]
) -> None:
    """Any filter, time, limit or cursor on /v1/audit answers below 500."""
    query_string = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in query.items()})
    _check(sqlite_client, method, f"/v1/audit?{query_string}", b"")


@FUZZ
@given(
    method=st.sampled_from(METHODS),
    route=st.sampled_from(["/v1/status", "/v1/graph"]),
    key=st.sampled_from(["prefix", "unit", "x"]),
    value=edgy_text,
)
def test_graph_views_never_answer_500(
    sqlite_client: TestClient, method: str, route: str, key: str, value: str
) -> None:
    """Any prefix or unit ID on /v1/status and /v1/graph answers below 500."""
    query_string = urlencode({key: value.encode("utf-8", "surrogatepass")})
    _check(sqlite_client, method, f"{route}?{query_string}", b"")
