"""The first start of a fresh install: the bootstrap admin token.

Without an OIDC provider nobody could log in to a new server, and leaving it
open is not an option; so the first start creates one admin API token, shows
it once on stderr and writes it to a file only its owner can read.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from taco_core.auth import NewApiToken
from taco_http.logs import json_line
from taco_http.wiring import Services, admin_token_file


async def bootstrap(services: Services) -> None:
    """Make a fresh install usable without leaving it open: with auth on and
    no OIDC provider, the first start creates an admin API token, prints it
    once and writes it to a file only its owner can read."""
    settings = services.settings
    if settings.auth_disable or settings.auth_issuer:
        return
    created = await services.auth.bootstrap_admin_token()
    if created is not None:
        path = admin_token_file(settings)
        if settings.log_format == "json":
            announce_admin_token_json(created, path)
        else:
            announce_admin_token(created, path)


def announce_admin_token_json(created: NewApiToken, path: Path | None) -> None:
    """The announcement as one line of the JSON log's shape. The secret is in
    it only when there is no file to hold it: JSON logs are made to be
    shipped elsewhere."""
    fields: dict[str, str] = {}
    if path is not None:
        write_private_file(path, created.secret + "\n")
        fields["admin_token_file"] = str(path.resolve())
    else:
        fields["admin_token"] = created.secret
    sys.stderr.write(
        json_line(
            "warning",
            "opentaco.bootstrap",
            "OpenTaco created an admin API token on this first start"
            + (f"; it is in {path.resolve()} (mode 0600)" if path is not None else ""),
            **fields,
        )
        + "\n"
    )
    sys.stderr.flush()


def announce_admin_token(created: NewApiToken, path: Path | None) -> None:
    """Print the bootstrap token to stderr (not to the log, which may be
    shipped elsewhere) and write it to ``path`` with mode 0600."""
    where = ""
    if path is not None:
        try:
            write_private_file(path, created.secret + "\n")
            where = f"\n  It was also written to {path.resolve()} (mode 0600)."
        except OSError as exc:
            where = f"\n  It could NOT be written to {path}: {exc.strerror or exc}."
    sys.stderr.write(
        "\n"
        "  OpenTaco created an admin API token on this first start. It is shown ONCE:\n"
        f"\n      {created.secret}\n"
        f"{where}\n"
        "  Use it as a Bearer token, as `taco login --token`, or as Terraform's backend\n"
        '  "http" password (with any username). Create more with POST /v1/auth/tokens.\n\n'
    )
    sys.stderr.flush()


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only from
    the first byte on (the file is created 0600, never widened later)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as sink:
            sink.write(text)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
