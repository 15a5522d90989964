"""Helpers for the Terraform-Cloud-compatible API's end-to-end tests: a TLS
``opentacosvc``, Terraform runs pointed at it, and the checks that every
request Terraform sent was answered.

Terraform's environment is built from scratch for each run: ``SSL_CERT_FILE``
trusts the test CA, ``TF_CLI_CONFIG_FILE`` names a file of the test's own
(this machine exports one globally) unless a test unsets it on purpose, and
``AWS_CA_BUNDLE`` is dropped.
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import httpx

from tests.e2e.terraform import Terraform, locate, strip_debug, terraform_env
from tests.servers import Server
from tests.tls import TlsFiles

ORG = "acme"

OUTPUTS = """\
variable "n" {
  default = 1
}

output "greeting" {
  value = "hello-${var.n}"
}

output "ws" {
  value = terraform.workspace
}

output "secret" {
  value     = "s3cr3t"
  sensitive = true
}
"""


@attrs.frozen
class Host:
    """A running TLS server and the API token the tests act with."""

    server: Server
    tls: TlsFiles
    token: str

    @property
    def name(self) -> str:
        """The hostname Terraform is given (``localhost:<port>``)."""
        return f"localhost:{self.server.port}"

    def client(self, token: str | None = None) -> httpx.Client:
        """A client of the server, with ``token`` (default the host's; none
        when both are empty)."""
        credential = token or self.token
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        return httpx.Client(
            base_url=self.server.url, verify=self.tls.context(), headers=headers, timeout=30
        )

    def api(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        with self.client(token) as c:
            return c.request(method, path, **kw)

    def workspace(self, name: str, token: str | None = None) -> dict[str, Any]:
        reply = self.api("GET", f"/api/v2/organizations/{ORG}/workspaces/{name}", token)
        assert reply.status_code == 200, reply.text
        data: dict[str, Any] = reply.json()["data"]
        return data

    def backend_state(self, unit: str) -> dict[str, Any]:
        """The unit's state read through Terraform's HTTP backend route."""
        reply = self.api("GET", f"/v1/backend/{unit}")
        assert reply.status_code == 200, reply.text
        doc: dict[str, Any] = reply.json()
        return doc

    def versions(self, unit: str) -> list[dict[str, Any]]:
        reply = self.api("GET", f"/v1/units/{unit}/versions")
        assert reply.status_code == 200, reply.text
        found: list[dict[str, Any]] = reply.json()["versions"]
        return found

    def new_token(self, name: str, subject: str | None = None) -> str:
        """A new API token: the admin's own, or one for ``subject`` (which
        holds whatever roles it is assigned, none at first)."""
        body = {"name": name} if subject is None else {"name": name, "subject": subject}
        reply = self.api("POST", "/v1/auth/tokens", json=body)
        assert reply.status_code == 201, reply.text
        secret: str = reply.json()["token"]
        return secret

    def grant(self, subject: str, role: str, actions: list[str], resource: str) -> None:
        """A permission and a role, both ``role``, allowing ``actions`` on
        ``resource``; ``subject`` holds the role."""
        rules = [{"effect": "allow", "actions": actions, "resources": [resource]}]
        for path, body in (
            ("/v1/rbac/permissions", {"id": role, "rules": rules}),
            ("/v1/rbac/roles", {"id": role, "permissions": [role]}),
            ("/v1/rbac/users/assign", {"subject": subject, "role_id": role}),
        ):
            reply = self.api("POST", path, json=body)
            assert reply.status_code in (200, 201), reply.text


def unanswered(server: Server) -> list[str]:
    """Log lines of requests that reached the API's 404 fallback or failed
    with a 5xx: a complete server logs none while Terraform runs."""
    bad = []
    for line in server.logs().splitlines():
        if (
            "TFE endpoint not implemented" in line
            or "unhandled error" in line
            # The service's access line: "<METHOD> <path> <status> <ms>ms".
            or re.search(r" 5\d\d [\d.]+ms$", line)
        ):
            bad.append(line)
    return bad


def cli_config(path: Path, host: str, token: str) -> Path:
    """A Terraform CLI configuration holding the token for ``host``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'credentials "{host}" {{\n  token = "{token}"\n}}\n')
    return path


@attrs.frozen
class Result:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (
            f"terraform {' '.join(self.args)} exited {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


@attrs.frozen
class Tf:
    """One Terraform version, aimed at one host, with its own HOME."""

    terraform: Terraform
    env: Mapping[str, str]

    @property
    def version(self) -> str:
        return self.terraform.version

    def run(
        self,
        *args: str,
        cwd: Path,
        check: bool = True,
        stdin: str | None = None,
        env: Mapping[str, str | None] | None = None,
        timeout: float = 180.0,
    ) -> Result:
        """``terraform <args>`` in ``cwd``; ``stdin`` answers prompts (input
        is then enabled); ``env`` adds variables, ``None`` removes one."""
        full = dict(self.env)
        if stdin is not None:
            full.pop("TF_INPUT", None)
        for key, value in (env or {}).items():
            if value is None:
                full.pop(key, None)
            else:
                full[key] = value
        at = 2 if args and args[0] in ("workspace", "state") else 1
        proc = subprocess.run(
            [*self.terraform.command, *args[:at], "-no-color", *args[at:]],
            cwd=cwd,
            env=full,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result = Result(tuple(args), proc.returncode, proc.stdout, strip_debug(proc.stderr))
        if check and result.returncode != 0:
            raise AssertionError(f"Terraform {self.version}: {result.describe()}")
        return result

    def ok(self, *args: str, cwd: Path, **kw: Any) -> Result:
        return self.run(*args, cwd=cwd, **kw)

    def fails(self, *args: str, cwd: Path, **kw: Any) -> Result:
        result = self.run(*args, cwd=cwd, check=False, **kw)
        assert result.returncode != 0, result.describe()
        return result

    def output(self, name: str, cwd: Path, **kw: Any) -> str:
        return self.run("output", "-raw", name, cwd=cwd, **kw).stdout

    def pull(self, cwd: Path, **kw: Any) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.run("state", "pull", cwd=cwd, **kw).stdout)
        return doc


def terraform_for(version: str, workdir: Path, tls: TlsFiles, config: Path | None) -> Tf:
    """Terraform ``version`` with a private HOME under ``workdir``, trusting
    the test CA, reading ``config`` as its CLI configuration (``None``: no
    ``TF_CLI_CONFIG_FILE`` at all, so ``~/.terraform.d`` counts)."""
    located = locate(version, workdir)
    env = terraform_env(workdir / "home")
    env.pop("AWS_CA_BUNDLE", None)
    env["SSL_CERT_FILE"] = str(tls.ca)
    env.pop("TF_CLI_CONFIG_FILE", None)
    if config is not None:
        env["TF_CLI_CONFIG_FILE"] = str(config)
    (workdir / "home" / ".terraform.d").mkdir(parents=True, exist_ok=True)
    return Tf(located, env)


def backend_remote(host: str, workspaces: str, extra: str = OUTPUTS) -> str:
    """A ``backend "remote"`` configuration (``workspaces``: the block's body)."""
    return (
        textwrap.dedent(
            f"""\
            terraform {{
              backend "remote" {{
                hostname     = "{host}"
                organization = "{ORG}"

                workspaces {{
                  {workspaces}
                }}
              }}
            }}
            """
        )
        + "\n"
        + extra
    )


def cloud_block(host: str, workspaces: str, extra: str = OUTPUTS) -> str:
    """A ``cloud {}`` configuration (``workspaces``: the block's body)."""
    return (
        textwrap.dedent(
            f"""\
            terraform {{
              cloud {{
                hostname     = "{host}"
                organization = "{ORG}"

                workspaces {{
                  {workspaces}
                }}
              }}
            }}
            """
        )
        + "\n"
        + extra
    )


def remote_state(host: str, workspace: str) -> str:
    """A local-state configuration reading ``workspace`` with
    ``terraform_remote_state`` through ``backend = "remote"``."""
    return textwrap.dedent(
        f"""\
        data "terraform_remote_state" "p" {{
          backend = "remote"

          config = {{
            hostname     = "{host}"
            organization = "{ORG}"
            workspaces = {{
              name = "{workspace}"
            }}
          }}
        }}

        output "got" {{
          value = data.terraform_remote_state.p.outputs.greeting
        }}

        output "got_secret" {{
          value     = data.terraform_remote_state.p.outputs.secret
          sensitive = true
        }}
        """
    )


def write(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.tf").write_text(text)
    return directory


def token_env(host: str, token: str) -> dict[str, str]:
    """Terraform 1.2+'s ``TF_TOKEN_<host>`` for ``host``: the name's host part
    as Terraform reads it (``.`` as ``_``, ``-`` as ``__``); a ``:port`` has
    no underscore form, so such a host is named literally."""
    if ":" in host:
        return {f"TF_TOKEN_{host}": token}
    return {"TF_TOKEN_" + host.replace("-", "__").replace(".", "_"): token}
