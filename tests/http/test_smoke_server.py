"""The installed ``opentacosvc`` starts on its defaults and serves."""

from __future__ import annotations

import httpx

from tests.servers import Server


def test_service_starts_with_sqlite_default_and_creates_db(server: Server) -> None:
    """A fresh start creates data/taco.db under the working directory and is ready."""
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok", "service": "opentaco"}
    assert (server.log.parent / "data" / "taco.db").exists()
