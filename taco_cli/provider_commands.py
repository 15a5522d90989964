"""``taco provider install`` and ``taco provider init``: Terraform's side of OpenTaco.

``install`` puts the ``opentaco`` provider where Terraform finds it; ``init``
also writes a configuration that manages units and the dependency graph, with
its state in the system unit. Both are idempotent.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attrs import frozen

from taco_cli import __version__
from taco_cli.errors import UsageError
from taco_cli.output import Output
from taco_cli.provider_config import DEFAULT_DIR, GITIGNORE, Written, main_tf, write_files
from taco_cli.provider_install import (
    Installed,
    default_plugin_dir,
    install,
    platform_name,
    provider_version,
)
from taco_core.errors import UnitAlreadyExists, UnitNotFound
from taco_core.ports import StateControl
from taco_core.unit_id import UnitId, is_reserved


@frozen
class ProviderContext:
    """What the provider commands need, wired by ``taco_cli.main``."""

    server: str | None  # None with --embedded: there is no server to point Terraform at
    out: Output
    connect: Callable[[], AbstractAsyncContextManager[StateControl]]


ProviderHandler = Callable[[ProviderContext, argparse.Namespace], Awaitable[None]]


def _install(plugin_dir: Path) -> Installed:
    return install(
        plugin_dir,
        version=provider_version(__version__),
        platform=platform_name(),
        python=sys.executable,
    )


def installed_lines(result: Installed) -> list[str]:
    where = f"{result.path.parent}"
    if result.changed:
        lines = [f"Installed the OpenTaco provider {result.version} ({result.platform}) in {where}"]
    else:
        lines = [
            f"The OpenTaco provider {result.version} ({result.platform}) is already "
            f"installed in {where}"
        ]
    lines += [f"Removed version {v}" for v in result.removed]
    lines.append(f"It runs with {result.python}")
    return lines


def installed_doc(result: Installed) -> dict[str, Any]:
    return {
        "source": result.source,
        "version": result.version,
        "platform": result.platform,
        "path": str(result.path),
        "python": result.python,
        "changed": result.changed,
        "removed": list(result.removed),
    }


def required_providers(source: str) -> list[str]:
    return [
        "terraform {",
        "  required_providers {",
        "    opentaco = {",
        f'      source = "{source}"',
        "    }",
        "  }",
        "}",
    ]


async def install_command(ctx: ProviderContext, args: argparse.Namespace) -> None:
    plugin_dir = Path(args.dir) if args.dir else default_plugin_dir()
    result = _install(plugin_dir)
    lines = installed_lines(result)
    lines += ["", "Use it in a Terraform configuration with:", ""]
    lines += ["  " + line for line in required_providers(result.source)]
    if args.dir:
        lines += [
            "",
            f"Terraform looks in {plugin_dir} only when a filesystem_mirror in its CLI "
            "configuration names it (see docs/provider.md).",
        ]
    ctx.out.result(installed_doc(result), lines)


async def _system_unit(ctx: ProviderContext, unit_id: UnitId) -> tuple[str, str]:
    """(state, line): whether the system unit exists, and what was done about it."""
    async with ctx.connect() as control:
        try:
            await control.get_unit(unit_id)
        except UnitNotFound:
            pass
        else:
            return "exists", f"System unit {unit_id}: exists"
        if is_reserved(unit_id):
            # The management API refuses to create platform units; the backend
            # creates any unit on first use, so the first apply does it.
            return "pending", (
                f"System unit {unit_id}: created by the first 'terraform apply' "
                "(the backend creates units on first use)"
            )
        try:
            await control.create_unit(unit_id)
        except UnitAlreadyExists:
            return "exists", f"System unit {unit_id}: exists"
        return "created", f"System unit {unit_id}: created"


def _file_line(item: Written) -> str:
    if item.written:
        return f"Wrote {item.path}"
    return f"Kept {item.path} (it exists; --force overwrites it)"


async def init_command(ctx: ProviderContext, args: argparse.Namespace) -> None:
    if ctx.server is None:
        raise UsageError(
            "taco provider init needs a server: the configuration it writes keeps its "
            "state there (--embedded works on a local file)"
        )
    directory = Path(args.directory or args.dir or DEFAULT_DIR)
    system_unit: UnitId = args.system_unit
    result = _install(default_plugin_dir())
    lines = installed_lines(result)
    doc: dict[str, Any] = {"provider": installed_doc(result), "directory": str(directory)}
    if args.no_create:
        doc["system_unit"] = {"id": system_unit, "state": "unchecked"}
    else:
        state, line = await _system_unit(ctx, system_unit)
        doc["system_unit"] = {"id": system_unit, "state": state}
        lines.append(line)
    files = {
        "main.tf": main_tf(ctx.server, system_unit, datetime.now(UTC)),
        ".gitignore": GITIGNORE,
    }
    written = write_files(directory, files, force=args.force)
    lines += [_file_line(item) for item in written]
    doc["files"] = [{"path": str(w.path), "written": w.written} for w in written]
    lines += [
        "",
        "Next:",
        f"  cd {directory}",
        "  export TF_HTTP_PASSWORD=otc_...  OPENTACO_TOKEN=otc_...   # an API token",
        "  terraform init && terraform apply",
    ]
    ctx.out.result(doc, lines)


PROVIDER_HANDLERS: dict[str, ProviderHandler] = {
    "provider.install": install_command,
    "provider.init": init_command,
}
