"""Terraform's ``remote`` and ``cloud`` backends against a real ``opentacosvc``
over TLS: Terraform 1.0.3 with ``backend "remote"`` and 1.15.5 with
``cloud {}``, side by side (their scenarios are independent, so each test
runs the two versions at once).

One server for the module, with authentication on; the bootstrap admin
token is the tests' credential (in a ``credentials`` block, or in
``TF_TOKEN_<host>`` for 1.15.5). After every test, no request may have
reached the API's 404 fallback or failed with a 5xx.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import pty
import select
import signal
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.tfe import (
    ORG,
    Host,
    Tf,
    backend_remote,
    cli_config,
    cloud_block,
    remote_state,
    terraform_for,
    token_env,
    unanswered,
    write,
)
from tests.servers import running_server
from tests.tls import issue

pytestmark = pytest.mark.e2e

OLD, NEW = "1.0.3", "1.15.5"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    """One TLS server with auth on, for every test of the module."""
    base = tmp_path_factory.mktemp("tfe-server")
    tls = issue(base / "tls")
    db = base / "data" / "taco.db"
    with running_server(
        base,
        args=[*tls.args(), "--sqlite-db-path", str(db)],
        auth_disable=False,
        ca=tls.ca,
    ) as server:
        token = (db.parent / "admin-token").read_text().strip()
        yield Host(server, tls, token)


@pytest.fixture(autouse=True)
def everything_answered(host: Host) -> Iterator[None]:
    """Every request Terraform sent in the test was answered by a real route."""
    yield
    assert unanswered(host.server) == []


@pytest.fixture(scope="module")
def tfs(host: Host, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Tf]:
    """Both versions, with the token in a CLI configuration's credentials block."""
    found = {}
    for version in (OLD, NEW):
        work = tmp_path_factory.mktemp(f"tf-{version}")
        config = cli_config(work / "cli.tfrc", host.name, host.token)
        found[version] = terraform_for(version, work, host.tls, config)
    return found


@pytest.fixture(scope="module")
def tf_env_token(host: Host, tmp_path_factory: pytest.TempPathFactory) -> Tf:
    """1.15.5 with an empty CLI configuration: its token comes from
    ``TF_TOKEN_<host>`` on each run."""
    work = tmp_path_factory.mktemp("tf-env-token")
    empty = work / "empty.tfrc"
    empty.write_text("")
    return terraform_for(NEW, work, host.tls, empty)


def both(*scenarios: Callable[[], None]) -> None:
    """Run independent scenarios at once; the first failure is raised."""
    with concurrent.futures.ThreadPoolExecutor(len(scenarios)) as pool:
        for future in [pool.submit(s) for s in scenarios]:
            future.result()


# -- one named workspace: apply, outputs, pull, push, locks -------------------------------


def named_workspace(tf: Tf, host: Host, work: Path, config: str, ws: str) -> None:
    """What a named workspace goes through, for either backend."""
    a = write(work / "a", config)
    tf.ok("init", "-input=false", cwd=a)
    tf.ok("apply", "-auto-approve", "-input=false", cwd=a)
    assert tf.output("greeting", a) == "hello-1"
    tf.ok("apply", "-auto-approve", "-input=false", "-var", "n=2", cwd=a)
    assert tf.output("greeting", a) == "hello-2"
    assert tf.output("secret", a) == "s3cr3t"

    # The same state through the HTTP backend route: the workspace is unit O/W.
    pulled = tf.pull(a)
    stored = host.backend_state(f"{ORG}/{ws}")
    assert (stored["serial"], stored["lineage"]) == (pulled["serial"], pulled["lineage"])
    assert stored["outputs"]["greeting"]["value"] == "hello-2"
    assert host.workspace(ws)["attributes"]["execution-mode"] == "local"

    # state push of an edited copy; then -force of an older serial, which the
    # clobber guard would refuse but the lock holder's push passes (noted).
    pushed = {**pulled, "serial": pulled["serial"] + 1}
    pushed["outputs"] = {**pulled["outputs"], "greeting": {"value": "pushed", "type": "string"}}
    (a / "push.json").write_text(json.dumps(pushed))
    tf.ok("state", "push", "push.json", cwd=a)
    assert host.backend_state(f"{ORG}/{ws}")["outputs"]["greeting"]["value"] == "pushed"
    older = {**pushed, "serial": 1}
    older["outputs"] = {**pushed["outputs"], "greeting": {"value": "forced", "type": "string"}}
    (a / "older.json").write_text(json.dumps(older))
    assert "serial" in tf.fails("state", "push", "older.json", cwd=a).output
    tf.ok("state", "push", "-force", "older.json", cwd=a)
    assert host.backend_state(f"{ORG}/{ws}")["outputs"]["greeting"]["value"] == "forced"
    latest = host.versions(f"{ORG}/{ws}")[0]
    assert latest["surface"] == "tfe"
    assert latest["note"].startswith("forced over the clobber guard: serial")

    # Two working directories: while A's apply waits for approval holding the
    # lock, B's apply meets it; once A gives up, B goes through.
    b = write(work / "b", config)
    tf.ok("init", "-input=false", cwd=b)
    waiting = subprocess.Popen(
        [*tf.terraform.command, "apply", "-no-color", "-var", "n=7"],
        cwd=a,
        env={k: v for k, v in tf.env.items() if k != "TF_INPUT"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not host.workspace(ws)["attributes"]["locked"]:
            assert waiting.poll() is None, waiting.communicate()[0]
            assert time.monotonic() < deadline, "A never took the lock"
            time.sleep(0.2)
        refused = tf.fails("apply", "-auto-approve", "-input=false", "-var", "n=3", cwd=b)
        assert "workspace already locked" in refused.output
        assert f'lock ID: "{ORG}/{ws}"' in refused.output
    finally:
        out, _ = waiting.communicate("no\n", timeout=120)
    assert "Apply cancelled" in out, out
    assert not host.workspace(ws)["attributes"]["locked"]
    tf.ok("apply", "-auto-approve", "-input=false", "-var", "n=3", cwd=b)
    assert tf.output("greeting", b) == "hello-3"

    # Locked by someone else (another token): refused until force-unlock.
    other = host.new_token(f"other-{tf.version}")
    ws_id = host.workspace(ws)["id"]
    locked = host.api("POST", f"/api/v2/workspaces/{ws_id}/actions/lock", other, json={})
    assert locked.status_code == 200, locked.text
    assert "workspace already locked" in tf.fails("apply", "-auto-approve", cwd=b).output
    tf.ok("force-unlock", "-force", f"{ORG}/{ws}", cwd=b)
    tf.ok("apply", "-auto-approve", "-input=false", "-var", "n=4", cwd=b)
    assert host.backend_state(f"{ORG}/{ws}")["outputs"]["greeting"]["value"] == "hello-4"


def test_a_named_workspace_through_both_backends(
    tfs: dict[str, Tf], host: Host, tmp_path: Path
) -> None:
    """init, apply, output changes, state pull/push (and push -force), a lock
    conflict between two working directories and force-unlock, for 1.0.3's
    ``backend "remote"`` and 1.15.5's ``cloud {}``; the state is unit O/W."""
    both(
        lambda: named_workspace(
            tfs[OLD],
            host,
            tmp_path / "old",
            backend_remote(host.name, 'name = "old-app"'),
            "old-app",
        ),
        lambda: named_workspace(
            tfs[NEW], host, tmp_path / "new", cloud_block(host.name, 'name = "new-app"'), "new-app"
        ),
    )


# -- several workspaces: prefix (1.0.3) and tags (1.15.5) ----------------------------------


def prefix_workspaces(tf: Tf, host: Host, work: Path) -> None:
    d = write(work, backend_remote(host.name, 'prefix = "app-"'))
    assert "No existing workspaces" in tf.fails("init", "-input=false", cwd=d).output
    tf.ok("workspace", "new", "dev", cwd=d)
    tf.ok("workspace", "new", "prod", cwd=d)
    listed = tf.ok("workspace", "list", cwd=d).stdout
    assert "dev" in listed and "* prod" in listed
    tf.ok("workspace", "select", "dev", cwd=d)
    tf.ok("apply", "-auto-approve", "-input=false", cwd=d)
    assert tf.output("ws", d) == "dev"
    assert host.backend_state(f"{ORG}/app-dev")["outputs"]["ws"]["value"] == "dev"
    tf.ok("workspace", "delete", "prod", cwd=d)
    assert "prod" not in tf.ok("workspace", "list", cwd=d).stdout
    gone = host.api("GET", f"/api/v2/organizations/{ORG}/workspaces/app-prod")
    assert gone.status_code == 404
    deleted = host.api("GET", "/v1/units", params={"prefix": f"{ORG}/app-", "deleted": "true"})
    assert [u["id"] for u in deleted.json()["units"]] == [f"{ORG}/app-prod"]


def tagged_workspaces(tf: Tf, host: Host, work: Path) -> None:
    env = token_env(host.name, host.token)
    d = write(work, cloud_block(host.name, 'tags = ["app", "team-x"]'))
    assert "No existing workspaces" in tf.fails("init", "-input=false", cwd=d, env=env).output
    # Interactively, init asks for the first workspace's name and creates it tagged.
    tf.ok("init", cwd=d, stdin="tagged-dev\n", env=env)
    tf.ok("workspace", "new", "tagged-stage", cwd=d, env=env)
    listed = tf.ok("workspace", "list", cwd=d, env=env).stdout
    assert "tagged-dev" in listed and "* tagged-stage" in listed
    tf.ok("apply", "-auto-approve", "-input=false", cwd=d, env=env)
    tf.ok("workspace", "select", "tagged-dev", cwd=d, env=env)
    tf.ok("apply", "-auto-approve", "-input=false", "-var", "n=5", cwd=d, env=env)
    assert tf.output("ws", d, env=env) == "tagged-dev"
    stage = host.workspace("tagged-stage")["attributes"]
    assert stage["tag-names"] == ["app", "team-x"]
    unit = host.api("GET", f"/v1/units/{ORG}/tagged-dev").json()
    assert unit["labels"] == {"app": "", "team-x": ""}
    assert host.backend_state(f"{ORG}/tagged-dev")["outputs"]["greeting"]["value"] == "hello-5"
    # An untagged workspace joins the set when named: its tags are added.
    plain = host.api("POST", "/v1/units", json={"id": f"{ORG}/tagged-plain"})
    assert plain.status_code == 201, plain.text
    tf.ok("workspace", "new", "tagged-plain", cwd=d, env=env)
    assert host.workspace("tagged-plain")["attributes"]["tag-names"] == ["app", "team-x"]
    tf.ok("workspace", "select", "tagged-dev", cwd=d, env=env)
    tf.ok("workspace", "delete", "tagged-stage", cwd=d, env=env)
    assert "tagged-stage" not in tf.ok("workspace", "list", cwd=d, env=env).stdout


def test_workspaces_by_prefix_and_by_tags(
    tfs: dict[str, Tf], tf_env_token: Tf, host: Host, tmp_path: Path
) -> None:
    """``terraform workspace new/list/select/delete`` with 1.0.3's prefix and
    1.15.5's tags (token from ``TF_TOKEN_<host>``): workspaces are units under
    the organization, tags are their labels, deletes are soft."""
    both(
        lambda: prefix_workspaces(tfs[OLD], host, tmp_path / "prefix"),
        lambda: tagged_workspaces(tf_env_token, host, tmp_path / "tags"),
    )


# -- terraform_remote_state --------------------------------------------------------------


def reads_remote_state(tf: Tf, host: Host, work: Path, workspace: str) -> None:
    d = write(work, remote_state(host.name, workspace))
    tf.ok("init", "-input=false", cwd=d)
    tf.ok("apply", "-auto-approve", "-input=false", cwd=d)
    assert tf.output("got", d) == "hello-1"
    assert tf.output("got_secret", d) == "s3cr3t"


def writes(tf: Tf, host: Host, work: Path, config: str) -> None:
    d = write(work, config)
    tf.ok("init", "-input=false", cwd=d)
    tf.ok("apply", "-auto-approve", "-input=false", cwd=d)


def test_remote_state_reads_across_versions(tfs: dict[str, Tf], host: Host, tmp_path: Path) -> None:
    """``terraform_remote_state`` with ``backend = "remote"`` reads a
    workspace the other version wrote, sensitive outputs included."""
    both(
        lambda: writes(
            tfs[OLD], host, tmp_path / "w-old", backend_remote(host.name, 'name = "rs-old"')
        ),
        lambda: writes(
            tfs[NEW], host, tmp_path / "w-new", cloud_block(host.name, 'name = "rs-new"')
        ),
    )
    both(
        lambda: reads_remote_state(tfs[OLD], host, tmp_path / "r-old", "rs-new"),
        lambda: reads_remote_state(tfs[NEW], host, tmp_path / "r-new", "rs-old"),
    )


def test_a_revoked_token_is_refused(tfs: dict[str, Tf], host: Host, tmp_path: Path) -> None:
    """A token revoked with the API makes Terraform stop with "unauthorized"."""
    token = host.new_token("short-lived")
    config = cli_config(tmp_path / "revoked.tfrc", host.name, token)
    d = write(tmp_path / "w", cloud_block(host.name, 'name = "revoked-ws"'))
    tf = tfs[NEW]
    env = {"TF_CLI_CONFIG_FILE": str(config)}
    tf.ok("init", "-input=false", cwd=d, env=env)
    token_id = host.api("GET", "/v1/auth/me", token).json()["token_id"]
    assert host.api("DELETE", f"/v1/auth/tokens/{token_id}").status_code == 204
    refused = tf.fails("apply", "-auto-approve", "-input=false", cwd=d, env=env)
    assert "unauthorized" in refused.output


def outputs_reader(host: str, workspace: str) -> str:
    """``terraform_remote_state`` of ``workspace`` that lists the outputs it got."""
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

        output "names" {{
          value = join(",", sort(keys(data.terraform_remote_state.p.outputs)))
        }}
        """
    )


def refused_then_outputs_only(tf: Tf, host: Host, work: Path, config: str, ws: str) -> None:
    """Without a role: init fails, printing RBAC's refusal. With
    ``unit.read_outputs`` on the workspace: ``terraform_remote_state`` gets
    its non-sensitive outputs and nothing else."""
    subject = f"nobody-{tf.version}"
    token = host.new_token(f"t-{subject}", subject=subject)
    env = {"TF_CLI_CONFIG_FILE": str(cli_config(work / "cli.tfrc", host.name, token))}
    d = write(work / "denied", config)
    refused = tf.fails("init", "-input=false", cwd=d, env=env)
    assert "permission denied" in refused.output and f"{ORG}/{ws}" in refused.output
    host.grant(subject, f"outputs-{subject}", ["unit.read_outputs"], f"{ORG}/{ws}")
    r = write(work / "reader", outputs_reader(host.name, ws))
    tf.ok("init", "-input=false", cwd=r, env=env)
    tf.ok("apply", "-auto-approve", "-input=false", cwd=r, env=env)
    assert tf.output("got", r, env=env) == "hello-1"
    assert tf.output("names", r, env=env) == "greeting,ws"
    assert host.backend_state(f"{ORG}/{ws}")["outputs"]["secret"]["value"] == "s3cr3t"


def test_rbac_decides_what_terraform_may_do(tfs: dict[str, Tf], host: Host, tmp_path: Path) -> None:
    """A token whose subject holds no role on a workspace gets RBAC's
    refusal printed by Terraform (JSON:API 403), and one allowed only
    outputs reads the non-sensitive outputs through ``terraform_remote_state``."""
    old_config = backend_remote(host.name, 'name = "guarded-old"')
    new_config = cloud_block(host.name, 'name = "guarded-new"')
    both(
        lambda: writes(tfs[OLD], host, tmp_path / "w-old", old_config),
        lambda: writes(tfs[NEW], host, tmp_path / "w-new", new_config),
    )
    both(
        lambda: refused_then_outputs_only(
            tfs[OLD], host, tmp_path / "old", old_config, "guarded-old"
        ),
        lambda: refused_then_outputs_only(
            tfs[NEW], host, tmp_path / "new", new_config, "guarded-new"
        ),
    )


def paste_login(tf: Tf, host: Host, token: str, cwd: Path) -> str:
    """``terraform login`` in a terminal (its token prompt needs one), answered
    as a person would: ``yes``, then the pasted token. Its output."""
    main, terminal = pty.openpty()
    env = {k: v for k, v in tf.env.items() if k != "TF_INPUT"}
    proc = subprocess.Popen(
        [*tf.terraform.command, "login", "-no-color", host.name],
        cwd=cwd,
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    out, answers = b"", [b"yes\n", token.encode() + b"\n"]
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 1)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(main, 4096)
            except OSError:  # EIO: Terraform exited and the terminal closed
                break
            out += chunk
            # Each answer goes once its prompt ("Enter a value:") has shown.
            if answers and out.count(b"Enter a value:") > 2 - len(answers):
                os.write(main, answers.pop(0))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        os.close(main)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    return text


def test_terraform_login_without_oidc_takes_a_pasted_token(host: Host, tmp_path: Path) -> None:
    """With no OIDC provider, discovery offers no login.v1: ``terraform
    login`` points at the tokens page, takes a pasted API token, checks it
    with account/details (naming its subject) and saves it."""
    assert "login.v1" not in host.api("GET", "/.well-known/terraform.json").json()

    def login(version: str) -> None:
        tf = terraform_for(version, tmp_path / version, host.tls, config=None)
        token = host.new_token(f"pasted-{version}")
        out = paste_login(tf, host, token, tmp_path / version)
        assert "/app/settings/tokens" in out, out
        assert "Retrieved token for user admin" in out and "Success!" in out, out
        saved = Path(tf.env["HOME"]) / ".terraform.d" / "credentials.tfrc.json"
        assert json.loads(saved.read_text())["credentials"][host.name]["token"] == token

    both(lambda: login(OLD), lambda: login(NEW))
