"""Starting ``opentacosvc`` with a bad configuration: the real entry point, as
a subprocess, stops with one line naming the setting (exit 2) or the path
(exit 1), never a traceback; doubtful settings are named in a warning; S3
settings choose S3 storage, never a local file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.servers import opentacosvc_command

STAMPED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (\w+) ")


def run_service(
    cwd: Path, env: dict[str, str], args: list[str] | None = None, *, read_only: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run opentacosvc until it exits (these configurations all stop it).
    ``read_only``: without the root's power to write where permissions forbid."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENTACO_", "AWS_"))}
    command = [*opentacosvc_command(), "--port", "1", *(args or [])]
    if read_only and os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "as root this test needs setpriv (util-linux) to drop CAP_DAC_OVERRIDE"
        command = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", *command]
    return subprocess.run(
        command,
        cwd=cwd,
        env={**base, "OPENTACO_AUTH_DISABLE": "true", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def messages(stderr: str) -> list[str]:
    """The lines that are not log records."""
    return [line for line in stderr.splitlines() if line.strip() and not STAMPED.match(line)]


def records(stderr: str, level: str) -> list[str]:
    return [line for line in stderr.splitlines() if (m := STAMPED.match(line)) and m[1] == level]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OPENTACO_LOG_LEVEL": "loud"}, "OPENTACO_LOG_LEVEL"),
        ({"OPENTACO_DELETE_GRACE": "99999999999d"}, "OPENTACO_DELETE_GRACE"),
        ({"OPENTACO_TOKENS_ACCESS_TTL": "99999999999d"}, "OPENTACO_TOKENS_ACCESS_TTL"),
        ({"OPENTACO_MAX_STATE_BYTES": "9" * 40 + "TiB"}, "OPENTACO_MAX_STATE_BYTES"),
        ({"OPENTACO_MAX_VERSIONS": "9" * 5000}, "OPENTACO_MAX_VERSIONS"),
        ({"OPENTACO_READ_TIMEOUT": "0"}, "OPENTACO_READ_TIMEOUT"),
        ({"OPENTACO_S3_TIMEOUT": "never"}, "OPENTACO_S3_TIMEOUT"),
    ],
)
def test_an_invalid_setting_is_one_line_and_exit_2(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    """Each invalid value stops start-up with exit 2 and one line naming the variable."""
    proc = run_service(tmp_path, env)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert messages(proc.stderr) == [messages(proc.stderr)[0]]
    assert messages(proc.stderr)[0].startswith(f"opentacosvc: {named} "), proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("level", ["WARN", "warn", "Warning", "DEBUG", "error"])
def test_log_levels_are_read_in_any_case_and_warn_is_warning(tmp_path: Path, level: str) -> None:
    """WARN (the reference's spelling) and any case are accepted: start-up gets as
    far as the storage (here one that cannot be created, exit 1), not a settings error."""
    (tmp_path / "afile").write_text("")
    proc = run_service(
        tmp_path, {"OPENTACO_LOG_LEVEL": level, "OPENTACO_SQLITE_DB_PATH": "afile/taco.db"}
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_database_under_a_file_names_the_path_and_exits_1(tmp_path: Path) -> None:
    """A database path under a file stops start-up with exit 1 and one line naming it."""
    (tmp_path / "afile").write_text("")
    proc = run_service(tmp_path, {"OPENTACO_SQLITE_DB_PATH": "afile/taco.db"})
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert messages(proc.stderr) == [
        "opentacosvc: cannot open sqlite storage: cannot create the SQLite database "
        "afile/taco.db: Not a directory"
    ]


def test_a_database_in_a_read_only_folder_names_the_path_and_exits_1(tmp_path: Path) -> None:
    """A database in a folder the service may not write stops start-up with exit 1
    and one line naming the database."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        proc = run_service(
            tmp_path, {"OPENTACO_SQLITE_DB_PATH": str(folder / "taco.db")}, read_only=True
        )
    finally:
        folder.chmod(0o755)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    [line] = messages(proc.stderr)
    assert line.startswith("opentacosvc: cannot open sqlite storage: cannot create the SQLite ")
    assert str(folder / "taco.db") in line and "Permission denied" in line


def test_a_misspelled_variable_is_named_with_the_likely_one(tmp_path: Path) -> None:
    """An unknown OPENTACO_* variable gets a warning naming the closest real one;
    the CLI's variables are not mistaken for typos."""
    (tmp_path / "afile").write_text("")
    proc = run_service(
        tmp_path,
        {
            "OPENTACO_MAX_VERSION": "3",
            "OPENTACO_SQLITE_DBPATH": "x.db",
            "OPENTACO_TOKEN": "otc_for_the_cli",
            "OPENTACO_SQLITE_DB_PATH": "afile/taco.db",
        },
    )
    warnings = records(proc.stderr, "WARNING")
    assert any(
        "OPENTACO_MAX_VERSION is not a setting" in w and "did you mean OPENTACO_MAX_VERSIONS?" in w
        for w in warnings
    ), warnings
    assert any("did you mean OPENTACO_SQLITE_DB_PATH?" in w for w in warnings), warnings
    assert not any("OPENTACO_TOKEN " in w for w in warnings), warnings


def test_an_s3_bucket_without_a_storage_chooses_s3(tmp_path: Path) -> None:
    """With OPENTACO_S3_BUCKET set and OPENTACO_STORAGE unset the service uses S3 (and says
    so): here an S3 that cannot be reached stops it with exit 1; no SQLite file appears."""
    proc = run_service(
        tmp_path,
        {
            "OPENTACO_S3_BUCKET": "tfstate",
            "OPENTACO_S3_ENDPOINT": "http://127.0.0.1:9",
            "OPENTACO_S3_TIMEOUT": "1",
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "y",
        },
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert any(
        "storage: s3, because an S3 bucket is set" in r for r in records(proc.stderr, "INFO")
    )
    assert messages(proc.stderr)[0].startswith("opentacosvc: cannot open s3 storage:")
    assert list(tmp_path.iterdir()) == [], "a local database was created"


def test_s3_settings_with_sqlite_storage_warn(tmp_path: Path) -> None:
    """OPENTACO_STORAGE=sqlite beside S3 settings is a contradiction named in a warning."""
    (tmp_path / "afile").write_text("")
    proc = run_service(
        tmp_path,
        {
            "OPENTACO_STORAGE": "sqlite",
            "OPENTACO_S3_BUCKET": "tfstate",
            "OPENTACO_SQLITE_DB_PATH": "afile/taco.db",
        },
    )
    assert any(
        "OPENTACO_S3_BUCKET set, but the storage is sqlite (OPENTACO_STORAGE=sqlite)" in w
        for w in records(proc.stderr, "WARNING")
    ), proc.stderr
