"""Every file the service creates is private: a real ``opentacosvc``, started
as a user starts it (umask 022), writes its database, WAL, shared memory and
admin token, and nothing under its data folder is open to other users. Files
left wider by someone else are named in a warning at start."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx

from tests.servers import running_server


def _loose_umask() -> None:
    os.umask(0o022)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_every_file_the_service_creates_is_private(tmp_path: Path) -> None:
    """After start-up, writes, locks and a token, every folder under the data folder
    is 0700 and every file 0600; the files a user would worry about are among them."""
    workdir = tmp_path / "svc"
    with running_server(workdir, auth_disable=False, preexec_fn=_loose_umask) as server:
        data = workdir / "data"
        admin = (data / "admin-token").read_text().strip()
        auth = {"Authorization": f"Bearer {admin}"}
        for serial in (1, 2, 3):
            body = b'{"version": 4, "serial": %d, "lineage": "L"}' % serial
            r = httpx.post(f"{server.url}/v1/backend/app/prod", content=body, headers=auth)
            assert r.status_code == 200, r.text
        assert httpx.request("LOCK", f"{server.url}/v1/backend/a", headers=auth).status_code == 200
        r = httpx.post(f"{server.url}/v1/auth/tokens", json={"name": "ci"}, headers=auth)
        assert r.status_code == 201
        found = {p.name for p in data.rglob("*")}
        assert {"taco.db", "taco.db-wal", "taco.db-shm", "admin-token"} <= found, found
        assert mode(data) == 0o700
        for path in data.rglob("*"):
            expected = 0o700 if path.is_dir() else 0o600
            assert mode(path) == expected, (str(path), oct(mode(path)))
        assert "accessible to other users" not in server.logs()


def test_wider_files_left_by_others_are_named_at_start(tmp_path: Path) -> None:
    """An existing data folder 0755 and database 0644 stay as they are, and the
    start-up log names each with the chmod that fixes it."""
    workdir = tmp_path / "svc"
    data = workdir / "data"
    data.mkdir(parents=True)
    os.chmod(data, 0o755)
    (data / "taco.db").touch()
    os.chmod(data / "taco.db", 0o644)
    with running_server(workdir) as server:
        logs = server.logs()
    assert f"the folder {data} is accessible to other users (mode 0755)" in logs
    assert f"chmod 700 {data}" in logs
    assert f"the file {data / 'taco.db'} is accessible to other users (mode 0644)" in logs
    assert f"chmod 600 {data / 'taco.db'}" in logs
    assert mode(data / "taco.db") == 0o644
