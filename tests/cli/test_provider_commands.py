"""``taco provider install`` and ``taco provider init``, run as the user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from taco_cli.errors import UsageError
from taco_cli.provider_install import SOURCE, platform_name, provider_version
from tests.cli.conftest import Taco

PLATFORM = platform_name()


def plugin_base(home: Path) -> Path:
    return home / ".terraform.d" / "plugins" / "opentaco.local" / "opentaco" / "opentaco"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_install_writes_a_launcher_for_this_python(taco: Taco, home: Path) -> None:
    """The executable sits in Terraform's implied mirror and runs the provider with
    the Python that installed it; the required_providers source is printed."""
    result = taco.ok("--json", "provider", "install", env={"HOME": str(home)})
    doc = result.json()
    version = doc["version"]
    target = plugin_base(home) / version / PLATFORM / f"terraform-provider-opentaco_v{version}"
    assert (doc["path"], doc["source"], doc["changed"]) == (str(target), SOURCE, True)
    assert os.access(target, os.X_OK)
    assert sys.executable in target.read_text()
    started = subprocess.run([target], capture_output=True, text=True, timeout=60, check=False)
    assert started.returncode == 1
    assert "plugin that Terraform starts" in started.stderr
    human = taco.ok("provider", "install", env={"HOME": str(home)}).out
    assert "is already installed" in human
    assert f'source = "{SOURCE}"' in human


def test_install_again_changes_nothing(taco: Taco, home: Path) -> None:
    """A second install leaves the file alone (Terraform's recorded checksum stays valid)."""
    first = taco.ok("--json", "provider", "install", env={"HOME": str(home)}).json()
    target = Path(first["path"])
    before = target.stat().st_mtime_ns
    second = taco.ok("--json", "provider", "install", env={"HOME": str(home)}).json()
    assert second["changed"] is False
    assert target.stat().st_mtime_ns == before


def test_a_new_version_replaces_the_old_one(taco: Taco, home: Path) -> None:
    """Other versions of the provider are removed, and named."""
    old = plugin_base(home) / "0.0.1" / PLATFORM
    old.mkdir(parents=True)
    (old / "terraform-provider-opentaco_v0.0.1").write_text("#!/bin/sh\n")
    doc = taco.ok("--json", "provider", "install", env={"HOME": str(home)}).json()
    assert doc["removed"] == ["0.0.1"]
    assert [p.name for p in plugin_base(home).iterdir()] == [doc["version"]]


def test_install_into_another_directory(taco: Taco, home: Path, tmp_path: Path) -> None:
    """--dir installs there with the same layout, and says Terraform must be told."""
    result = taco.ok("provider", "install", "--dir", str(tmp_path / "mirror"))
    assert "filesystem_mirror" in result.out
    found = list((tmp_path / "mirror" / "opentaco.local").rglob("terraform-provider-opentaco_v*"))
    assert len(found) == 1


def test_init_writes_a_configuration_without_any_secret(taco: Taco, home: Path) -> None:
    """main.tf: http backend on the system unit, the provider's source and endpoint;
    no token even when one is in the environment; the provider gets installed."""
    secret = "otc_this-must-not-be-written"
    env = {"HOME": str(home), "OPENTACO_TOKEN": secret}
    result = taco.ok("provider", "init", "platform", env=env)
    assert "System unit __opentaco_system: created by the first 'terraform apply'" in result.out
    main_tf = (taco.cwd / "platform" / "main.tf").read_text()
    address = f"{taco.server}/v1/backend/__opentaco_system"
    for line in (
        f'address        = "{address}"',
        f'lock_address   = "{address}"',
        f'unlock_address = "{address}"',
        f'source = "{SOURCE}"',
        f'endpoint = "{taco.server}"',
        "export TF_HTTP_PASSWORD=",
        "export OPENTACO_TOKEN=",
    ):
        assert line in main_tf
    assert secret not in main_tf
    gitignore = (taco.cwd / "platform" / ".gitignore").read_text().split()
    assert gitignore == [
        ".terraform/",
        ".terraform.lock.hcl",
        "terraform.tfstate",
        "terraform.tfstate.backup",
    ]
    assert list(plugin_base(home).rglob("terraform-provider-opentaco_v*"))


def test_init_keeps_existing_files_unless_forced(taco: Taco, home: Path) -> None:
    """Edited files survive a second init; --force rewrites them."""
    env = {"HOME": str(home)}
    taco.ok("provider", "init", env=env)
    main_tf = taco.cwd / "opentaco-config" / "main.tf"
    main_tf.write_text("# mine\n")
    assert "Kept" in taco.ok("provider", "init", env=env).out
    assert main_tf.read_text() == "# mine\n"
    taco.ok("provider", "init", "--force", env=env)
    assert "backend" in main_tf.read_text()


def test_the_positional_directory_wins_over_dir(taco: Taco, home: Path) -> None:
    """taco provider init A --dir B writes into A, as the reference does."""
    taco.ok("provider", "init", "first", "--dir", "second", env={"HOME": str(home)})
    assert (taco.cwd / "first" / "main.tf").exists()
    assert not (taco.cwd / "second").exists()


def test_a_system_unit_of_ones_own_is_created(taco: Taco, home: Path, unit_id: str) -> None:
    """A non-reserved --system-unit is created on the server (and found the next time)."""
    args = ("provider", "init", "cfg", "--system-unit", unit_id, "--force")
    assert f"System unit {unit_id}: created" in taco.ok(*args, env={"HOME": str(home)}).out
    assert taco.ok("unit", "info", unit_id).code == 0
    assert f"System unit {unit_id}: exists" in taco.ok(*args, env={"HOME": str(home)}).out


def test_no_create_does_not_contact_the_server(tmp_path: Path, home: Path) -> None:
    """--no-create works with no server running at all."""
    work = tmp_path / "work"
    work.mkdir()
    offline = Taco(work, "http://127.0.0.1:9")
    result = offline.ok("--json", "provider", "init", "--no-create", env={"HOME": str(home)})
    assert result.json()["system_unit"] == {"id": "__opentaco_system", "state": "unchecked"}
    failed = offline("provider", "init", "other", env={"HOME": str(home)})
    assert failed.code == 1
    assert "cannot reach the OpenTaco server" in failed.err


def test_init_needs_a_server(taco: Taco, home: Path) -> None:
    """With --embedded there is no server for Terraform: a usage error."""
    failed = taco("--embedded", "x.db", "provider", "init", env={"HOME": str(home)})
    assert failed.code == 2
    assert "taco provider init needs a server" in failed.err


@pytest.mark.parametrize(
    ("package", "terraform"),
    [
        ("0.1.0", "0.1.0"),
        ("0.2.0rc1", "0.2.0"),
        ("1", "1.0.0"),
        ("2.3.4.post1", "2.3.4"),
        ("0+unknown", "0.0.0"),
    ],
)
def test_versions_become_plain_semver(package: str, terraform: str) -> None:
    """Terraform wants X.Y.Z and skips pre-releases nobody asked for by name."""
    assert provider_version(package) == terraform


def test_platform_names_are_terraforms() -> None:
    """uname's names map to Terraform's os_arch; an unknown platform is a usage error."""
    assert platform_name("Linux", "x86_64") == "linux_amd64"
    assert platform_name("Darwin", "arm64") == "darwin_arm64"
    assert platform_name("Linux", "aarch64") == "linux_arm64"
    with pytest.raises(UsageError, match="does not support this platform"):
        platform_name("Windows", "AMD64")
