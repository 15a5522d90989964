"""Real Terraform (1.0.3 and 1.15.5) against an ``opentacosvc`` with auth on:
``backend "http"`` and ``terraform_remote_state`` authenticate with an API
token as the Basic password, and a wrong token fails with 401."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs
import httpx
import pytest

from tests.e2e.terraform import GREETING_CONFIG, Terraform, write_config
from tests.servers import Server, running_server

pytestmark = pytest.mark.e2e

UNIT = "myapp/prod"
INIT = ("init", "-input=false", "-no-color")
APPLY = ("apply", "-input=false", "-auto-approve", "-no-color")


def backend(url: str, unit: str, credentials: str = "") -> str:
    """A ``backend "http"`` block; ``credentials`` are extra HCL lines."""
    address = f"{url}/v1/backend/{unit}"
    return f"""\
terraform {{
  backend "http" {{
    address        = "{address}"
    lock_address   = "{address}"
    unlock_address = "{address}"
    {credentials}
  }}
}}
"""


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    """A service with auth on, and an API token made with its bootstrap admin token."""
    workdir = tmp_path / "svc"
    with running_server(workdir, auth_disable=False) as server:
        admin = (workdir / "data" / "admin-token").read_text().strip()
        reply = httpx.post(
            f"{server.url}/v1/auth/tokens",
            json={"name": "terraform"},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert reply.status_code == 201, reply.text
        yield server, reply.json()["token"]


def stored_versions(server: Server, token: str) -> list[dict[str, object]]:
    reply = httpx.get(f"{server.url}/v1/units/{UNIT}/versions", auth=("t", token))
    assert reply.status_code == 200, reply.text
    versions: list[dict[str, object]] = reply.json()["versions"]
    return versions


def test_api_token_as_backend_password(
    terraform: Terraform, secured: tuple[Server, str], tmp_path: Path
) -> None:
    """username + password = <API token> in the backend block: init, apply
    (with LOCK/UNLOCK) and a second apply work; history names the token's owner."""
    server, token = secured
    credentials = f'username = "opentaco"\n    password = "{token}"'
    work = write_config(tmp_path / "cfg", backend(server.url, UNIT, credentials), GREETING_CONFIG)
    terraform.run(*INIT, cwd=work)
    terraform.run(*APPLY, cwd=work)
    terraform.run(*APPLY, "-var", "n=2", cwd=work)
    versions = stored_versions(server, token)
    assert len(versions) == 2
    assert {v["author"] for v in versions} == {"admin"}
    unit = httpx.get(f"{server.url}/v1/units/{UNIT}", auth=("t", token)).json()
    assert unit["locked"] is False


def test_token_from_tf_http_environment_and_remote_state(
    terraform: Terraform, secured: tuple[Server, str], tmp_path: Path
) -> None:
    """TF_HTTP_USERNAME/TF_HTTP_PASSWORD work, and terraform_remote_state reads
    another unit's outputs with the token in its config."""
    server, token = secured
    with_env = attrs.evolve(
        terraform,
        env={**terraform.env, "TF_HTTP_USERNAME": "ci", "TF_HTTP_PASSWORD": token},
    )
    producer = write_config(tmp_path / "producer", backend(server.url, UNIT), GREETING_CONFIG)
    with_env.run(*INIT, cwd=producer)
    with_env.run(*APPLY, "-var", "n=7", cwd=producer)

    consumer = write_config(
        tmp_path / "consumer",
        backend(server.url, "myapp/consumer"),
        f"""\
data "terraform_remote_state" "prod" {{
  backend = "http"
  config = {{
    address  = "{server.url}/v1/backend/{UNIT}"
    username = "reader"
    password = "{token}"
  }}
}}

output "upstream" {{
  value = data.terraform_remote_state.prod.outputs.greeting
}}
""",
    )
    with_env.run(*INIT, cwd=consumer)
    with_env.run(*APPLY, cwd=consumer)
    reply = httpx.get(f"{server.url}/v1/backend/myapp/consumer", auth=("t", token))
    assert reply.json()["outputs"]["upstream"]["value"] == "hello-7"


@pytest.mark.parametrize(
    "credentials",
    [
        'username = "opentaco"\n    password = "otc_not-a-real-token"',
        "",
    ],
    ids=["wrong-token", "no-credentials"],
)
def test_wrong_or_missing_token_fails_with_401(
    terraform: Terraform, secured: tuple[Server, str], tmp_path: Path, credentials: str
) -> None:
    """A wrong token, or none, stops terraform init with the backend's 401."""
    server, token = secured
    work = write_config(tmp_path / "cfg", backend(server.url, UNIT, credentials), GREETING_CONFIG)
    failed = terraform.run(*INIT, cwd=work, check=False)
    assert failed.returncode != 0, failed.describe()
    assert "requires auth" in failed.output, failed.describe()
    assert httpx.get(f"{server.url}/v1/units/{UNIT}", auth=("t", token)).status_code == 404


def test_revoked_token_stops_working_for_terraform(
    terraform: Terraform, secured: tuple[Server, str], tmp_path: Path
) -> None:
    """Revoking the API token locks Terraform out at its next request."""
    server, token = secured
    credentials = f'username = "opentaco"\n    password = "{token}"'
    work = write_config(tmp_path / "cfg", backend(server.url, UNIT, credentials), GREETING_CONFIG)
    terraform.run(*INIT, cwd=work)
    me = httpx.get(f"{server.url}/v1/auth/me", auth=("t", token)).json()
    revoked = httpx.delete(f"{server.url}/v1/auth/tokens/{me['token_id']}", auth=("t", token))
    assert revoked.status_code == 204
    failed = terraform.run(*APPLY, cwd=work, check=False)
    assert failed.returncode != 0, failed.describe()
