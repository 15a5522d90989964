"""The man pages: up to date with the parsers, and installed where ``man`` looks."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("man_generate", ROOT / "man" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_man_pages_are_not_stale() -> None:
    """taco.1 and opentacosvc.1 match what the parsers generate now."""
    generate = _generator()
    for name in generate.PAGES:
        committed = (ROOT / "man" / name).read_text()
        assert committed == generate.render(name), (
            f"man/{name} is stale: run 'nox -s manpages' (python man/generate.py)"
        )


def test_man_pages_document_commands_options_and_examples() -> None:
    """The taco page names every command, alias, global option, example and exit code."""
    page = (ROOT / "man" / "taco.1").read_text().replace("\\-", "-")
    for text in (
        "taco unit create",
        "taco unit ls (list)",
        "taco unit info (show, describe)",
        "taco unit rm (delete, remove)",
        "taco unit acquire",
        "taco unit release",
        "--server",
        "--embedded",
        "--json",
        "OPENTACO_SERVER",
        ".SH EXAMPLES",
        ".SH EXIT STATUS",
        "lock conflict",
        "taco login",
        "taco logout",
        "taco whoami",
        "taco token create",
        "taco provider install",
        "taco provider init",
        "OPENTACO_TOKEN",
        "credentials.json",
        "session expired",
    ):
        assert text in page, text
    svc = (ROOT / "man" / "opentacosvc.1").read_text().replace("\\-", "-")
    assert ".SH EXAMPLES" in svc and "--sqlite-db-path" in svc


def test_man_pages_render_without_warnings(tmp_path: Path) -> None:
    """groff reads both pages cleanly."""
    if shutil.which("groff") is None:
        pytest.fail("groff is missing: apt-get install groff-base", pytrace=False)
    for name in ("taco.1", "opentacosvc.1"):
        proc = subprocess.run(
            ["groff", "-man", "-Tutf8", "-ww", str(ROOT / "man" / name)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert proc.stderr == "", proc.stderr
        assert "EXAMPLES" in re.sub(".\b", "", proc.stdout)  # drop overstrike bold


def _source_files() -> list[str]:
    proc = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [f for f in proc.stdout.splitlines() if (ROOT / f).is_file()]


@pytest.mark.slow
def test_pip_install_puts_the_man_pages_where_man_finds_them(tmp_path: Path) -> None:
    """After ``pip install``, <prefix>/share/man/man1 holds both pages and ``man -w`` finds them."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to copy the sources from")
    src = tmp_path / "src"
    for name in _source_files():
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", str(src)],
        check=True,
        capture_output=True,
    )
    man1 = venv / "share" / "man" / "man1"
    assert (man1 / "taco.1").read_text() == (ROOT / "man" / "taco.1").read_text()
    assert (man1 / "opentacosvc.1").exists()
    assert (venv / "bin" / "taco").exists()
    assert (venv / "bin" / "terraform-provider-opentaco").exists()
    if shutil.which("man") is not None:
        env = {**os.environ, "PATH": f"{venv / 'bin'}:/usr/bin:/bin"}
        env.pop("MANPATH", None)
        found = subprocess.run(
            ["man", "-w", "taco"], env=env, capture_output=True, text=True, check=True
        )
        assert found.stdout.strip() == str(man1 / "taco.1")
