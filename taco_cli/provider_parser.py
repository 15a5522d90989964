"""The ``taco provider`` commands' arguments (``taco_cli.parser`` adds them)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from taco_cli.provider_config import DEFAULT_DIR
from taco_cli.provider_install import SOURCE
from taco_core.unit_id import SYSTEM_UNIT, UnitId


def add_provider_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    globals_: argparse.ArgumentParser,
    epilog: str,
    unit_id_type: Callable[[str], UnitId],
) -> None:
    provider = commands.add_parser(
        "provider",
        help="set up the Terraform provider",
        description="Set up the OpenTaco Terraform provider (opentaco), which manages "
        "units and the dependency graph as code.",
    )
    sub = provider.add_subparsers(
        title="provider commands", dest="provider_command", metavar="COMMAND"
    )
    sub.required = True

    p = sub.add_parser(
        "install",
        help="install the provider for Terraform",
        description="Install the provider where Terraform finds it without any "
        "configuration (~/.terraform.d/plugins), as a small executable that runs it "
        "with this Python, and print the required_providers source to use "
        f'("{SOURCE}"). Installing again is a no-op; a new version replaces the old one.',
        epilog=epilog,
        parents=[globals_],
    )
    p.set_defaults(command="provider.install")
    p.add_argument(
        "--dir",
        metavar="DIR",
        help="install under DIR instead of ~/.terraform.d/plugins (Terraform then "
        "needs a filesystem_mirror for DIR in its CLI configuration)",
    )

    p = sub.add_parser(
        "init",
        help="write a Terraform configuration for units and dependencies",
        description="Install the provider if needed, check the system unit on the "
        "server, and write DIR/main.tf (the http backend on the system unit, the "
        "provider, an example unit) and DIR/.gitignore. No token is written: "
        "Terraform reads it from TF_HTTP_PASSWORD (backend) and OPENTACO_TOKEN "
        "(provider). Existing files are kept unless --force.",
        epilog=epilog,
        parents=[globals_],
    )
    p.set_defaults(command="provider.init")
    p.add_argument("directory", metavar="DIR", nargs="?", help="where to write (wins over --dir)")
    p.add_argument("--dir", metavar="DIR", help=f"where to write (default {DEFAULT_DIR})")
    p.add_argument(
        "--system-unit",
        metavar="ID",
        type=unit_id_type,
        default=SYSTEM_UNIT,
        help=f"unit that keeps the configuration's state (default {SYSTEM_UNIT})",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument(
        "--no-create",
        action="store_true",
        help="do not contact the server (neither check nor create the system unit)",
    )
