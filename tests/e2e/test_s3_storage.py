"""``opentacosvc --storage s3`` end to end, on a real S3 server (SeaweedFS):
replicas sharing one bucket, real Terraform through the HTTP backend, and
Terraform 1.15's own ``backend "s3"`` (``use_lockfile``) on the same bucket
and keys, plus start-up and run-time failures of the store."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.s3 import (
    S3Services,
    get_object,
    object_exists,
    s3_args,
    s3_backend_block,
    s3_env,
    snapshot,
    state_key,
)
from tests.e2e.terraform import (
    GREETING_CONFIG,
    Terraform,
    TerraformMissing,
    backend_block,
    locate,
    terraform_waiting_for_approval,
    write_config,
)
from tests.e2e.test_concurrency import fire
from tests.s3_server import S3Server, run_weed
from tests.servers import free_port, opentacosvc_command, start_server

pytestmark = pytest.mark.e2e

PREFIX = "states/team"
UNIT = "app/prod"
INIT = ("init", "-input=false", "-no-color")
APPLY = ("apply", "-input=false", "-auto-approve", "-no-color")
CONTENDERS = 32
LOCK_FIELDS = {"ID", "Operation", "Info", "Who", "Version", "Created", "Path"}


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    """A fresh bucket on the session's SeaweedFS."""
    return s3_server.new_bucket()


@pytest.fixture
def s3_services(tmp_path: Path) -> Iterator[S3Services]:
    """Start ``opentacosvc`` processes on S3 storage; all are stopped afterwards."""
    services = S3Services(tmp_path)
    try:
        yield services
    finally:
        services.stop_all()


@pytest.fixture(scope="session")
def terraform_s3(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    """Terraform 1.15.5, the version whose ``backend "s3"`` locks with ``use_lockfile``."""
    try:
        tf = locate("1.15.5", tmp_path_factory.mktemp("terraform-s3"))
    except TerraformMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    reported = tf.run("version", cwd=tmp_path_factory.getbasetemp()).stdout
    assert reported.startswith("Terraform v1.15.5\n"), reported
    return tf


def lock_info(n: int, who: str = "") -> dict[str, str]:
    """Terraform's LockInfo for contender ``n``; every field is distinct per contender."""
    return {
        "ID": f"opentaco-contender-{n:02d}",
        "Operation": "OperationTypeApply",
        "Info": f"contender {n}",
        "Who": who or f"user{n}@host{n}",
        "Version": "1.15.5",
        "Created": f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}.000000001Z",
        "Path": "",
    }


def s3_config(s3: S3Server, bucket: str, directory: Path) -> Path:
    """A Terraform configuration on its own ``backend "s3"``, at the key where
    OpenTaco keeps ``UNIT`` under ``PREFIX``."""
    return write_config(
        directory, s3_backend_block(s3, bucket, state_key(PREFIX, UNIT)), GREETING_CONFIG
    )


def served(url: str, unit: str = UNIT) -> bytes:
    """The unit's state as OpenTaco's HTTP backend serves it to Terraform."""
    response = httpx.get(f"{url}/v1/backend/{unit}")
    assert response.status_code == 200, response.text
    return response.content


def history(url: str, unit: str = UNIT) -> list[dict[str, Any]]:
    """The unit's versions, oldest first."""
    response = httpx.get(f"{url}/v1/units/{unit}/versions")
    assert response.status_code == 200, response.text
    return sorted(response.json()["versions"], key=lambda v: v["number"])


def greeting(data: bytes) -> Any:
    return json.loads(data)["outputs"]["greeting"]["value"]


# -- replicas ------------------------------------------------------------------


async def test_two_replicas_on_one_bucket_give_exactly_one_lock_winner(
    s3_server: S3Server, bucket: str, s3_services: S3Services
) -> None:
    """32 concurrent LOCKs over two replicas: one 200, 31 x 423 with the winner; both agree."""
    with ThreadPoolExecutor(2) as pool:
        servers = list(pool.map(lambda _: s3_services(s3_server, bucket, PREFIX), range(2)))
    urls = [s.url for s in servers]
    for round_ in range(2):
        # Round 0 races on a unit that does not exist yet (the LOCKs create it
        # too); round 1 on the same unit, released in between.
        unit = "storm/net"
        contenders = [lock_info(100 * round_ + n) for n in range(CONTENDERS)]
        responses = await fire(
            [
                ("LOCK", f"{urls[n % 2]}/v1/backend/{unit}", json.dumps(info).encode())
                for n, info in enumerate(contenders)
            ]
        )

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [423] * (CONTENDERS - 1), [r.text for r in responses]
        winner = next(
            info for info, r in zip(contenders, responses, strict=True) if r.status_code == 200
        )
        for response in responses:
            assert response.json() == winner, (winner, response.text)
        lock_object = get_object(s3_server, bucket, state_key(PREFIX, unit) + ".tflock")
        stored = json.loads(lock_object)
        # Terraform's LockInfo exactly, plus who acquired it (ours; Terraform ignores it).
        assert stored.pop("Owner") == "anonymous:anonymous"
        assert stored == winner

        async with httpx.AsyncClient(timeout=30) as client:
            for url in urls:
                doc = (await client.get(f"{url}/v1/units/{unit}")).json()
                assert doc["locked"] is True, doc
                assert (doc["lock"]["id"], doc["lock"]["who"]) == (winner["ID"], winner["Who"])
            released = await client.request(
                "UNLOCK", f"{urls[round_]}/v1/backend/{unit}", json=winner
            )
            assert released.status_code == 200, released.text
            for url in urls:
                assert (await client.get(f"{url}/v1/units/{unit}")).json()["locked"] is False


# -- Terraform through OpenTaco's HTTP backend ------------------------------------


def test_terraform_http_backend_writes_exact_bytes_to_the_bucket(
    terraform: Terraform,
    s3_server: S3Server,
    bucket: str,
    s3_services: S3Services,
    tmp_path: Path,
) -> None:
    """init/apply/apply through the HTTP backend put Terraform's exact state at
    <prefix>/<unit>/terraform.tfstate."""
    server = s3_services(s3_server, bucket, PREFIX)
    work = write_config(tmp_path / "cfg", backend_block(server.url, UNIT), GREETING_CONFIG)
    key = state_key(PREFIX, UNIT)

    terraform.run(*INIT, cwd=work)
    terraform.run(*APPLY, cwd=work)
    first = get_object(s3_server, bucket, key)
    assert greeting(first) == "hello-1"
    assert first == served(server.url)

    terraform.run(*APPLY, "-var", "n=2", cwd=work)
    second = get_object(s3_server, bucket, key)
    assert second == served(server.url)
    assert greeting(second) == "hello-2"
    doc, previous = json.loads(second), json.loads(first)
    assert doc["terraform_version"] == terraform.version
    assert (doc["lineage"], doc["serial"]) == (previous["lineage"], previous["serial"] + 1)
    # Terraform serialises the state it holds exactly as it uploaded it; the
    # CLI adds one newline.
    pulled = terraform.run("state", "pull", cwd=work).stdout.encode()
    assert pulled == second + b"\n"

    versions = history(server.url)
    assert [v["number"] for v in versions] == [1, 2]
    assert [v["sha256"] for v in versions] == [
        hashlib.sha256(first).hexdigest(),
        hashlib.sha256(second).hexdigest(),
    ]
    assert not object_exists(s3_server, bucket, key + ".tflock"), "Terraform's unlock left a lock"


# -- Terraform's own backend "s3" on the same bucket ------------------------------


def test_terraform_s3_backend_state_is_served_unchanged_and_sees_opentaco_writes(
    terraform_s3: Terraform,
    s3_server: S3Server,
    bucket: str,
    s3_services: S3Services,
    tmp_path: Path,
) -> None:
    """A state Terraform's s3 backend wrote is served byte for byte; an OpenTaco
    write is what the s3 backend then pulls, and its next write is served too."""
    key = state_key(PREFIX, UNIT)
    s3_work = s3_config(s3_server, bucket, tmp_path / "s3-backend")
    terraform_s3.run(*INIT, cwd=s3_work)
    terraform_s3.run(*APPLY, cwd=s3_work)
    written_by_terraform = get_object(s3_server, bucket, key)

    server = s3_services(s3_server, bucket, PREFIX)
    before = snapshot(s3_server, bucket)
    assert served(server.url) == written_by_terraform
    assert httpx.get(f"{server.url}/v1/units").json()["units"][0]["id"] == UNIT
    assert snapshot(s3_server, bucket) == before, "reading wrote to the bucket"

    # An OpenTaco write: real Terraform through the HTTP backend, which reads
    # the s3 backend's state from OpenTaco and applies a change on top of it.
    http_work = write_config(
        tmp_path / "http-backend", backend_block(server.url, UNIT), GREETING_CONFIG
    )
    terraform_s3.run(*INIT, cwd=http_work)
    terraform_s3.run(*APPLY, "-var", "n=2", cwd=http_work)
    written_by_opentaco = served(server.url)
    assert get_object(s3_server, bucket, key) == written_by_opentaco

    pulled = terraform_s3.run("state", "pull", cwd=s3_work).stdout.encode()
    assert pulled == written_by_opentaco + b"\n"
    doc, first = json.loads(pulled), json.loads(written_by_terraform)
    assert greeting(written_by_opentaco) == "hello-2"
    assert (doc["lineage"], doc["serial"]) == (first["lineage"], first["serial"] + 1)

    terraform_s3.run(*APPLY, "-var", "n=3", cwd=s3_work)
    assert greeting(served(server.url)) == "hello-3"
    assert served(server.url) == get_object(s3_server, bucket, key)
    assert [(v["number"], v["surface"]) for v in history(server.url)] == [
        (0, "s3"),
        (1, "backend"),
        (2, "s3"),
    ]


def test_terraform_s3_backend_is_refused_while_opentaco_holds_the_lock(
    terraform_s3: Terraform,
    s3_server: S3Server,
    bucket: str,
    s3_services: S3Services,
    tmp_path: Path,
) -> None:
    """While OpenTaco holds the lock, Terraform's s3 backend apply fails naming our lock ID;
    its force-unlock releases it."""
    server = s3_services(s3_server, bucket, PREFIX)
    ours = lock_info(1, who="alice@opentaco")
    backend = f"{server.url}/v1/backend/{UNIT}"
    locked = httpx.request("LOCK", backend, json=ours)
    assert locked.status_code == 200, locked.text

    work = s3_config(s3_server, bucket, tmp_path / "s3-backend")
    terraform_s3.run(*INIT, cwd=work)
    refused = terraform_s3.run(*APPLY, cwd=work, check=False)
    assert refused.returncode != 0, refused.describe()
    assert "Error acquiring the state lock" in refused.output, refused.describe()
    assert re.search(rf"ID:\s+{ours['ID']}\b", refused.output), refused.describe()
    assert "alice@opentaco" in refused.output, refused.describe()
    assert not object_exists(s3_server, bucket, state_key(PREFIX, UNIT)), "refused apply wrote"
    stored = json.loads(get_object(s3_server, bucket, state_key(PREFIX, UNIT) + ".tflock"))
    assert stored.pop("Owner") == "anonymous:anonymous"
    assert stored == ours

    # A lock left behind by OpenTaco is Terraform's to break, as its own would be.
    terraform_s3.run("force-unlock", "-force", "-no-color", ours["ID"], cwd=work)
    assert httpx.get(f"{server.url}/v1/units/{UNIT}").json()["locked"] is False
    terraform_s3.run(*APPLY, cwd=work)
    assert greeting(served(server.url)) == "hello-1"


def test_opentaco_answers_423_with_the_holder_while_terraform_holds_the_lock(
    terraform_s3: Terraform,
    s3_server: S3Server,
    bucket: str,
    s3_services: S3Services,
    tmp_path: Path,
) -> None:
    """While a real Terraform s3-backend apply holds its lock file, OpenTaco's LOCK
    and writes get 423 with Terraform's LockInfo; they succeed once it lets go."""
    key = state_key(PREFIX, UNIT)
    work = s3_config(s3_server, bucket, tmp_path / "s3-backend")
    terraform_s3.run(*INIT, cwd=work)
    terraform_s3.run(*APPLY, cwd=work)
    server = s3_services(s3_server, bucket, PREFIX)
    backend = f"{server.url}/v1/backend/{UNIT}"
    state = served(server.url)
    ours = lock_info(2)

    with terraform_waiting_for_approval(terraform_s3, work, "-var", "n=2") as apply:
        # Terraform's own lock object: the name and LockInfo body OpenTaco checks.
        held = json.loads(get_object(s3_server, bucket, key + ".tflock"))
        assert set(held) == LOCK_FIELDS, held
        assert (held["Operation"], held["Version"]) == ("OperationTypeApply", "1.15.5")
        assert held["Path"] == f"{bucket}/{key}"

        refused = httpx.request("LOCK", backend, json=ours)
        assert refused.status_code == 423, refused.text
        assert refused.json() == held
        unit = httpx.get(f"{server.url}/v1/units/{UNIT}").json()
        assert unit["locked"] is True
        assert (unit["lock"]["id"], unit["lock"]["who"]) == (held["ID"], held["Who"])
        doc = json.loads(state)
        doc["serial"] += 1
        write = httpx.post(backend, content=json.dumps(doc).encode())
        assert write.status_code == 423, write.text
        assert write.json() == held
        assert served(server.url) == state

        out, _ = apply.communicate(b"no\n", timeout=60)
        assert b"Apply cancelled" in out, out.decode(errors="replace")

    assert not object_exists(s3_server, bucket, key + ".tflock")
    assert get_object(s3_server, bucket, key) == state
    granted = httpx.request("LOCK", backend, json=ours)
    assert granted.status_code == 200, granted.text
    assert httpx.request("UNLOCK", backend, json=ours).status_code == 200


# -- buckets written by others -------------------------------------------------

TERRAGRUNT_UNITS = (
    "live/_global/iam",
    "live/prod/app",
    "live/prod/vpc",
    "live/staging/us-east-1/vpc",
)


def terragrunt_state(unit: str) -> bytes:
    """A state as Terraform 1.0 wrote it for Terragrunt, in its own formatting."""
    return (
        b'{\n  "version": 4,\n  "terraform_version": "1.0.3",\n  "serial": 7,\n'
        b'  "lineage": "%s",\n  "outputs": {\n    "name": {\n      "value": "%s",\n'
        b'      "type": "string"\n    }\n  },\n  "resources": []\n}\n'
    ) % (hashlib.md5(unit.encode()).hexdigest().encode(), unit.encode())


def test_a_terragrunt_bucket_is_served_unchanged(
    s3_server: S3Server, bucket: str, s3_services: S3Services
) -> None:
    """States at live/<env>/<module>/terraform.tfstate are units, served byte for
    byte, with nothing written to the bucket."""
    client = s3_server.sync_client()
    for unit in TERRAGRUNT_UNITS:
        client.put_object(Bucket=bucket, Key=state_key("", unit), Body=terragrunt_state(unit))
    # Not units: a Terraform workspace folder and an unrelated object.
    client.put_object(
        Bucket=bucket,
        Key="env:/dev/live/prod/vpc/terraform.tfstate",
        Body=terragrunt_state("dev"),
    )
    client.put_object(Bucket=bucket, Key="live/README.md", Body=b"# infra\n")
    before = snapshot(s3_server, bucket)

    server = s3_services(s3_server, bucket)
    listed = httpx.get(f"{server.url}/v1/units").json()["units"]
    assert [u["id"] for u in listed] == list(TERRAGRUNT_UNITS)
    assert all(u["version"] == 0 and not u["locked"] for u in listed), listed
    for unit in TERRAGRUNT_UNITS:
        assert served(server.url, unit) == terragrunt_state(unit)
    vpc = httpx.get(f"{server.url}/v1/units/live/prod/vpc/versions").json()["versions"]
    assert [(v["number"], v["serial"], v["surface"]) for v in vpc] == [(0, 7, "s3")]
    assert snapshot(s3_server, bucket) == before, "serving the bucket wrote to it"


# -- no silent data loss ---------------------------------------------------------


def dead_endpoint() -> str:
    """An http URL on a loopback port nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize("problem", ["unreachable-endpoint", "missing-bucket"])
def test_start_up_stops_with_one_clear_line_when_s3_is_unusable(
    s3_server: S3Server, tmp_path: Path, problem: str
) -> None:
    """An unreachable endpoint or a missing bucket stops opentacosvc within seconds with
    status 1 and one line naming the problem: no traceback, no fallback."""
    if problem == "unreachable-endpoint":
        endpoint, bucket, expected = dead_endpoint(), "tfstate", "Could not connect"
    else:
        endpoint, bucket, expected = s3_server.endpoint_url, "no-such-bucket", "create it"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENTACO_", "AWS_"))}
    env.update(s3_env(s3_server), OPENTACO_AUTH_DISABLE="true")
    args = [
        *opentacosvc_command(),
        "--port",
        str(port),
        *s3_args(s3_server, bucket, PREFIX, endpoint=endpoint),
    ]

    started = time.monotonic()
    proc = subprocess.run(
        args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30, check=False
    )
    elapsed = time.monotonic() - started

    assert proc.returncode == 1, proc.stderr
    assert elapsed < 10, f"took {elapsed:.1f}s"
    assert "Traceback" not in proc.stderr, proc.stderr
    # Log records (timestamped) may precede it; the message itself is one line.
    messages = [
        line
        for line in proc.stderr.splitlines()
        if line.strip() and not re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ", line)
    ]
    assert len(messages) == 1, proc.stderr
    assert messages[0].startswith("opentacosvc: cannot open s3 storage:"), messages
    assert f"'{bucket}'" in messages[0] and endpoint in messages[0], messages
    assert expected in messages[0], messages
    assert "memory" not in proc.stderr, proc.stderr
    assert list(tmp_path.iterdir()) == [], "a fallback storage was created"


def test_runtime_s3_failure_answers_503_with_a_message(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """With its S3 server gone, a running service answers readyz, reads and writes with 503 JSON."""
    with contextlib.ExitStack() as weed:
        # A SeaweedFS of its own: this test stops it.
        s3 = weed.enter_context(run_weed(tmp_path_factory.mktemp("weed-stopped")))
        bucket = s3.new_bucket()
        server = start_server(tmp_path / "svc", args=s3_args(s3, bucket, PREFIX), env=s3_env(s3))
        try:
            backend = f"{server.url}/v1/backend/{UNIT}"
            state = b'{"version": 4, "serial": 1, "lineage": "l-503", "outputs": {}}'
            assert httpx.post(backend, content=state).status_code == 200
            weed.close()

            ready = httpx.get(f"{server.url}/readyz", timeout=30)
            assert ready.status_code == 503, ready.text
            assert ready.json()["status"] == "unavailable"
            assert ready.json()["error"], ready.text
            for response in (
                httpx.post(
                    backend, content=state.replace(b'"serial": 1', b'"serial": 2'), timeout=30
                ),
                httpx.get(backend, timeout=30),
            ):
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == "application/json"
                assert response.json()["error"].startswith("S3 "), response.text
            assert server.proc.poll() is None, "the service died with its store"
        finally:
            server.stop()
