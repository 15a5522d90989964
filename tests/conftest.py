"""Fixtures shared by every test package, and the Hypothesis profiles.

``ci`` (the default) runs every property and state machine at full size;
``HYPOTHESIS_PROFILE=dev`` runs a fifth of the examples, for quick rounds
while editing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.idp import FakeProvider
from tests.s3_server import S3Server, run_weed
from tests.servers import Server, running_server

settings.register_profile("ci", max_examples=100, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=20, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh ``opentacosvc`` on SQLite in a temporary directory."""
    with running_server(tmp_path / "svc") as srv:
        yield srv


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    """A stand-in OIDC provider on a loopback port."""
    idp = FakeProvider().start()
    try:
        yield idp
    finally:
        idp.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS server for the whole session (contract and end-to-end tests;
    it takes about a second to start); tests isolate themselves with a bucket each."""
    with run_weed(tmp_path_factory.mktemp("weed")) as server:
        yield server
