"""``terraform login`` end to end: real Terraform (1.0.3 and 1.15.5), a real
``opentacosvc`` over TLS with the real OIDC provider of the auth tests (npm
oidc-provider, PKCE S256 required) as its identity provider.

The browser is scripted over HTTP: it opens the URL Terraform prints, is sent
on to the provider, logs in and consents there, comes back through the
server's callback, and lands on Terraform's own listener. Terraform then
trades the code for an API token and saves it; later commands use it (with
``TF_CLI_CONFIG_FILE`` unset, which is when Terraform reads that file), act
as the person who logged in, and stop once the token is revoked.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.e2e.oidc_provider import NodeMissing, Provider, browse, running_provider
from tests.e2e.tfe import (
    ORG,
    Host,
    Tf,
    backend_remote,
    cloud_block,
    terraform_for,
    unanswered,
    write,
)
from tests.servers import free_port, running_server
from tests.tls import TlsFiles, issue

pytestmark = pytest.mark.e2e

PORT = free_port()
CALLBACK = f"https://localhost:{PORT}/oauth/callback"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return issue(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """The provider; its client (the one `taco login` uses) also allows the
    server's callback, as docs/tfe.md tells operators to register."""
    try:
        with running_provider(
            tmp_path_factory.mktemp("oidc"), redirect_uris=(CALLBACK,), application_type="web"
        ) as started:
            yield started
    except NodeMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def host(
    provider: Provider, tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Host]:
    base = tmp_path_factory.mktemp("svc")
    env = {
        "OPENTACO_AUTH_ISSUER": provider.issuer,
        "OPENTACO_AUTH_CLIENT_ID": provider.client_id,
        # The people of the login test may do anything; anyone else, nothing.
        "OPENTACO_RBAC_SUBJECT_ROLES": "dana-103=admin,dana-1155=admin",
    }
    with running_server(
        base,
        args=[*tls.args(), "--sqlite-db-path", str(base / "taco.db")],
        env=env,
        auth_disable=False,
        ca=tls.ca,
        port=PORT,
    ) as server:
        yield Host(server, tls, token="")
    assert unanswered(server) == []


class Login:
    """A ``terraform login`` process whose output is read as it comes."""

    def __init__(self, tf: Tf, host: Host, cwd: Path) -> None:
        env = dict(tf.env)
        env.pop("TF_INPUT", None)
        env["BROWSER"] = "/bin/false"
        self.proc = subprocess.Popen(
            [*tf.terraform.command, "login", "-no-color", host.name],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own process group: Terraform 1.0 runs itself again as a
            # child (panicwrap), which killing the parent alone leaves behind.
            start_new_session=True,
        )
        assert self.proc.stdin is not None
        self.proc.stdin.write("yes\n")
        self.proc.stdin.close()
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.out: list[str] = []
        assert self.proc.stdout is not None
        self.reader = threading.Thread(target=self._read, args=(self.proc.stdout,))
        self.reader.start()

    def _read(self, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                self.out.append(line)
                self.lines.put(line)
        self.lines.put(None)

    def url(self) -> str:
        while True:
            line = self.lines.get(timeout=120)
            if line is None:
                raise AssertionError("terraform login printed no URL:\n" + "".join(self.out))
            # Quotes end it: a browser launcher (xdg-open) may echo it quoted.
            found = re.search(r"(https://[^\s'\"]+/oauth/authorization\?[^\s'\"]+)", line)
            if found:
                return found.group(1)

    def finish(self) -> tuple[int, str]:
        try:
            code = self.proc.wait(120)
        finally:
            self.abort()
        return code, "".join(self.out)

    def abort(self) -> None:
        """Stop Terraform (when the browser's part failed it would wait for a
        code that never comes)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.reader.join(10)


def browser(url: str, host: Host, user: str) -> int | None:
    """What a browser does with the URL Terraform printed; returns the status
    of the page Terraform's listener showed (``None`` when Terraform, done,
    closed the connection before its page was read: it shuts its listener
    down as soon as it has the code)."""
    with httpx.Client(verify=host.tls.context(), timeout=30) as ours:
        sent_on = ours.get(url)
        assert sent_on.status_code == 302, sent_on.text
        back = browse(sent_on.headers["location"], user, CALLBACK)
        to_terraform = ours.get(back)
        assert to_terraform.status_code == 302, to_terraform.text
    target = to_terraform.headers["location"]
    assert target.startswith("http://localhost:100"), target
    try:
        return httpx.get(target, timeout=30).status_code
    except httpx.RemoteProtocolError:
        return None


def login(tf: Tf, host: Host, work: Path, user: str) -> str:
    """Log in as ``user``; the saved token."""
    session = Login(tf, host, work)
    try:
        url = session.url()
        query = parse_qs(urlsplit(url).query)
        assert query["code_challenge_method"] == ["S256"]
        assert query["client_id"] == ["terraform-cli"]
        page = browser(url, host, user)
    except BaseException:
        session.abort()
        raise
    code, out = session.finish()
    assert page in (200, None), page
    assert code == 0, out
    assert "Success!" in out, out
    saved = json.loads(
        (Path(tf.env["HOME"]) / ".terraform.d" / "credentials.tfrc.json").read_text()
    )
    token: str = saved["credentials"][host.name]["token"]
    assert token.startswith("otc_")
    return token


@pytest.mark.parametrize("version", ["1.0.3", "1.15.5"])
def test_terraform_login_through_the_identity_provider(
    version: str, host: Host, tmp_path: Path
) -> None:
    """``terraform login`` obtains an API token as the person who logged in at
    the provider; Terraform then uses it (discovery offers ``login.v1``), the
    versions it writes name that person, and once the token is revoked (as
    ``taco token revoke`` does) Terraform is refused."""
    assert "login.v1" in host.api("GET", "/.well-known/terraform.json").json()
    tf = terraform_for(version, tmp_path / "tf", host.tls, config=None)
    user = f"dana-{version.replace('.', '')}"
    token = login(tf, host, tmp_path, user)

    me = host.api("GET", "/v1/auth/me", token).json()
    assert (me["subject"], me["email"], me["kind"]) == (user, f"{user}@example.test", "api_token")

    ws = f"login-{version.replace('.', '-')}"
    if version == "1.0.3":
        config = backend_remote(host.name, f'name = "{ws}"')
    else:
        config = cloud_block(host.name, f'name = "{ws}"')
    d = write(tmp_path / "w", config)
    tf.ok("init", "-input=false", cwd=d)
    tf.ok("apply", "-auto-approve", "-input=false", cwd=d)
    history = host.api("GET", f"/v1/units/{ORG}/{ws}/versions", token).json()["versions"]
    assert history[0]["author"] == user

    revoked = subprocess.run(
        [sys.executable, "-m", "taco_cli", "token", "revoke", me["token_id"]],
        env={
            "OPENTACO_SERVER": host.server.url,
            "OPENTACO_TOKEN": token,
            "SSL_CERT_FILE": str(host.tls.ca),
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert revoked.returncode == 0, revoked.stderr
    assert "unauthorized" in tf.fails("apply", "-auto-approve", "-input=false", cwd=d).output


def test_a_login_gives_a_token_that_rbac_decides_for(host: Host, tmp_path: Path) -> None:
    """A person with no role logs in all the same, and Terraform then prints
    RBAC's refusal naming the workspace."""
    tf = terraform_for("1.15.5", tmp_path / "tf", host.tls, config=None)
    token = login(tf, host, tmp_path, "erin")
    assert host.api("GET", "/v1/auth/me", token).json()["subject"] == "erin"
    d = write(tmp_path / "w", cloud_block(host.name, 'name = "not-erins"'))
    refused = tf.fails("init", "-input=false", cwd=d)
    assert "permission denied" in refused.output and f"{ORG}/not-erins" in refused.output


def test_a_login_request_that_is_not_terraforms_is_refused(host: Host) -> None:
    """The authorization endpoint refuses a redirect URI that is not a
    loopback listener in login.v1's port range, and a missing PKCE challenge,
    before sending anyone to the provider."""
    good = {
        "client_id": "terraform-cli",
        "response_type": "code",
        "code_challenge_method": "S256",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "state": "s1",
        "redirect_uri": "http://localhost:10003/login",
    }
    assert host.api("GET", "/oauth/authorization", params=good).status_code == 302
    for change in (
        {"redirect_uri": "https://evil.example/login"},
        {"redirect_uri": "http://localhost:9999/login"},
        {"redirect_uri": "http://localhost:10003"},
        {"code_challenge_method": "plain"},
        {"code_challenge": ""},
        {"client_id": "someone-else"},
    ):
        refused = host.api("GET", "/oauth/authorization", params={**good, **change})
        assert refused.status_code == 400, change
