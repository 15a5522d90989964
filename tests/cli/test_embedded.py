"""``taco --embedded DB``: the same commands on a local SQLite file, no server."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Taco, state
from tests.servers import free_port


def test_embedded_mode_needs_no_server(tmp_path: Path) -> None:
    """With a dead OPENTACO_SERVER, --embedded still creates, locks, pushes and pulls."""
    taco = Taco(tmp_path, f"http://127.0.0.1:{free_port()}")
    db = str(tmp_path / "local" / "taco.db")
    taco.ok("--embedded", db, "unit", "create", "app/prod")
    assert "app/prod" in taco.ok("unit", "ls", "--embedded", db).out
    out = taco.ok("--embedded", db, "unit", "lock", "app/prod").out
    assert out.startswith("Unit locked: app/prod (lock ID: ")
    (saved,) = (tmp_path / ".taco" / "locks").glob("*/*.json")
    assert json.loads(saved.read_text())["origin"] == f"sqlite:{Path(db).resolve()}"
    taco.ok("--embedded", db, "unit", "push", "app/prod", "-", stdin=state(1))
    taco.ok("--embedded", db, "unit", "unlock", "app/prod")
    assert taco.ok("--embedded", db, "unit", "pull", "app/prod").stdout_bytes == state(1)
    history = taco.ok("--embedded", db, "--json", "unit", "versions", "app/prod").json()
    assert history["versions"][0]["author"].count("@") == 1  # embedded records who wrote
    result = taco("--embedded", db, "unit", "info", "app/missing")
    assert result.code == 4, result
