"""Installing the Terraform provider where Terraform finds it unconfigured.

Terraform searches ``~/.terraform.d/plugins`` (its *implied local mirror*) for
providers before any registry, with no CLI configuration, when the layout is
``<host>/<namespace>/<type>/<version>/<os>_<arch>/terraform-provider-<type>_v<version>``.
The host is a private name (``opentaco.local``), so Terraform never asks a
public registry for the provider, and nobody else's provider can stand in for it.

What is installed is a two-line launcher that runs the provider with the
Python that ran ``taco provider install`` (the one with OpenTaco installed), so
it is written on each machine and never shipped. Installing is idempotent
(same bytes, nothing written, so the checksum Terraform recorded in
``.terraform.lock.hcl`` stays valid), and a new version replaces the old one.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shlex
import shutil
from pathlib import Path

from attrs import frozen

from taco_cli.errors import LocalFileError, UsageError

HOST = "opentaco.local"
NAMESPACE = "opentaco"
TYPE = "opentaco"
SOURCE = f"{HOST}/{NAMESPACE}/{TYPE}"
PROVIDER_MODULE = "taco_tf_provider"

_OS = {"linux": "linux", "darwin": "darwin", "freebsd": "freebsd", "openbsd": "openbsd"}
_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "i386": "386",
    "i686": "386",
    "x86": "386",
    "armv6l": "arm",
    "armv7l": "arm",
}


def default_plugin_dir() -> Path:
    """Terraform's implied local mirror: ``~/.terraform.d/plugins``."""
    return Path.home() / ".terraform.d" / "plugins"


def provider_version(package_version: str) -> str:
    """The package's version as the ``X.Y.Z`` Terraform requires (``0.2.0rc1`` is
    ``0.2.0``: Terraform never picks a pre-release it was not asked for by name)."""
    numbers = re.match(r"\d+(?:\.\d+)*", package_version)
    parts = numbers.group(0).split(".") if numbers else []
    return ".".join([*parts, "0", "0", "0"][:3])


def platform_name(system: str | None = None, machine: str | None = None) -> str:
    """Terraform's name for this platform, e.g. ``linux_amd64``."""
    system = (system or platform.system()).lower()
    machine = (machine or platform.machine()).lower()
    if system not in _OS or machine not in _ARCH:
        raise UsageError(
            f"taco provider install does not support this platform ({system} {machine}); "
            "it supports Linux, macOS, FreeBSD and OpenBSD on amd64, arm64, 386 and arm"
        )
    return f"{_OS[system]}_{_ARCH[machine]}"


def launcher(python: str, version: str) -> str:
    """The executable's text: run the provider module with ``python``.

    ``-P`` keeps Terraform's working directory off ``sys.path``, so a file there
    cannot stand in for a module the provider imports.
    """
    return (
        "#!/bin/sh\n"
        f"# OpenTaco Terraform provider {version}, written by 'taco provider install'.\n"
        f'exec {shlex.quote(python)} -P -m {PROVIDER_MODULE} "$@"\n'
    )


@frozen
class Installed:
    """Where the provider is, and what installing it changed."""

    source: str
    version: str
    platform: str
    path: Path
    python: str
    changed: bool
    removed: tuple[str, ...]


def install(plugin_dir: Path, *, version: str, platform: str, python: str) -> Installed:
    """Write the launcher for ``version`` under ``plugin_dir`` unless it is there
    already, and remove other versions; ``LocalFileError`` when that fails."""
    base = plugin_dir / HOST / NAMESPACE / TYPE
    target = base / version / platform / f"terraform-provider-{TYPE}_v{version}"
    text = launcher(python, version)
    try:
        changed = not _current(target, text)
        if changed:
            _write_executable(target, text)
        removed = tuple(sorted(_remove_other_versions(base, version)))
    except OSError as exc:
        raise LocalFileError(
            f"cannot install the provider in {plugin_dir}: {exc.strerror or exc}"
        ) from None
    return Installed(SOURCE, version, platform, target, python, changed, removed)


def _current(target: Path, text: str) -> bool:
    try:
        same = target.read_text(encoding="utf-8") == text
    except (FileNotFoundError, UnicodeDecodeError):
        return False
    return same and os.access(target, os.X_OK)


def _write_executable(target: Path, text: str) -> None:
    """Atomically, so Terraform never starts half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o755)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _remove_other_versions(base: Path, keep: str) -> list[str]:
    removed = []
    for entry in base.iterdir():
        if entry.name != keep and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
            removed.append(entry.name)
    return removed
