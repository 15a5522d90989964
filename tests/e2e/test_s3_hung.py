"""A hung S3 (it accepts connections and never answers) costs a request
seconds, not minutes: ``OPENTACO_S3_TIMEOUT`` bounds each attempt and two
attempts are all a request gets. The 503 tells an unauthenticated caller
nothing about the endpoint, the bucket, the key layout or token hashes."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from taco_core.auth import hash_secret
from tests.e2e.s3 import s3_args, s3_env
from tests.s3_server import S3Server
from tests.servers import running_server
from tests.tcp_proxy import tcp_proxy

PREFIX = "states/team"
STATE = b'{"version": 4, "serial": 1, "lineage": "l-hung", "outputs": {}}'
BOGUS_TOKEN = "otc_" + "x" * 43


def timed(call: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()  # type: ignore[operator]
    return response, time.monotonic() - started


def test_a_hung_s3_answers_503_fast_and_tells_strangers_nothing(
    s3_server: S3Server, tmp_path: Path
) -> None:
    """With S3 hung after start, requests get 503 within seconds; the answers to
    unauthenticated callers and to probes name no endpoint, bucket, key or hash."""
    upstream = urlsplit(s3_server.endpoint_url)
    bucket = s3_server.new_bucket()
    workdir = tmp_path / "svc"
    with tcp_proxy((upstream.hostname or "127.0.0.1", upstream.port or 80)) as proxy:
        env = {
            **s3_env(s3_server),
            "OPENTACO_S3_TIMEOUT": "1",
            "OPENTACO_ADMIN_TOKEN_PATH": str(workdir / "admin-token"),
        }
        args = s3_args(s3_server, bucket, PREFIX, endpoint=proxy.url)
        with running_server(workdir, args=args, env=env, auth_disable=False) as server:
            admin = {"Authorization": f"Bearer {(workdir / 'admin-token').read_text().strip()}"}
            backend = f"{server.url}/v1/backend/app/prod"
            assert httpx.post(backend, content=STATE, headers=admin).status_code == 200
            proxy.hang()

            stranger = {"Authorization": f"Bearer {BOGUS_TOKEN}"}
            for call in (
                lambda: httpx.get(backend, headers=stranger, timeout=60),
                lambda: httpx.get(backend, headers=admin, timeout=60),
                lambda: httpx.post(backend, content=STATE, headers=admin, timeout=60),
                lambda: httpx.get(f"{server.url}/readyz", timeout=60),
            ):
                response, elapsed = timed(call)
                assert response.status_code == 503, response.text
                assert elapsed < 8, f"took {elapsed:.1f}s"
                body = response.text
                for secret in (
                    bucket,
                    str(proxy.port),
                    PREFIX,
                    "s3://",
                    "api-tokens",
                    hash_secret(BOGUS_TOKEN),
                ):
                    assert secret not in body, (secret, body)
            assert server.proc.poll() is None
            logs = server.logs()
            assert bucket in logs, "the details go to the log"
            assert "Traceback" not in logs
