"""Generate the man pages ``taco.1`` and ``opentacosvc.1`` from the argparse parsers.

Run by ``nox -s manpages``; ``tests/cli/test_manpages.py`` fails when the
committed pages differ from what this produces, so a changed option cannot
ship with a stale page. The pages are committed (not built at install time)
because they are installed as plain data files, and a wheel build should not
need argparse-manpage.

The ``.TH`` date is the only part that is not derived from the code: it is
kept as it is while the rest of a page is unchanged, so regenerating an
up-to-date page is a no-op.

    python man/generate.py           # rewrite stale pages
    python man/generate.py --check   # exit 1 and name the stale pages
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from argparse_manpage.compat import get_reproducible_date
from argparse_manpage.manpage import Manpage

from taco_cli import parser as taco_parser
from taco_http import parser as svc_parser
from taco_http.settings import ENV_VARS

MAN_DIR = Path(__file__).resolve().parent
MANUAL = "OpenTaco manual"
_TH = re.compile(r'^(\.TH \S+ "\d+" )"([^"]*)"', re.MULTILINE)


def roff(text: str) -> str:
    """Escape plain text for roff (backslashes, hyphens, control characters)."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(
        "\\&" + line if line.startswith((".", "'")) else line for line in text.split("\n")
    )


def items(pairs: Sequence[tuple[str, str]], *, bold: bool = True) -> str:
    """A ``.TP`` list: term, then its explanation indented."""
    out = []
    for term, text in pairs:
        out += [".TP", f"\\fB{roff(term)}\\fR" if bold else roff(term), roff(text)]
    return "\n".join(out)


def verbatim(text: str) -> str:
    return "\n".join([".nf", roff(text.strip("\n")), ".fi"])


def _page(
    build: Callable[[], argparse.ArgumentParser],
    summary: str,
    sections: Sequence[tuple[str, str]],
    date: str,
) -> str:
    parser = build()
    parser.epilog = None  # its content is rendered as proper sections below
    page = Manpage(
        parser,
        format="single-commands-section",
        _data={
            "project_name": "OpenTaco",
            "version": importlib.metadata.version("opentaco"),
            "manual_title": MANUAL,
            "description": summary,
            "date": date,
        },
    )
    for heading, content in sections:
        page.add_section(heading, ">", content)
    return str(page)


def taco_page(date: str) -> str:
    p = taco_parser
    return _page(
        p.build_parser,
        "manage OpenTaco units (Terraform states)",
        [
            ("examples", items(p.EXAMPLES)),
            ("exit status", items([(str(code), text) for code, text in p.EXIT_STATUS])),
            ("environment", items(p.ENVIRONMENT)),
            ("files", items(p.FILES)),
            ("see also", "\\fBopentacosvc\\fR(1)"),
        ],
        date,
    )


def opentacosvc_page(date: str) -> str:
    examples = svc_parser.EPILOG
    if examples.startswith("examples:"):
        examples = examples.split("\n", 1)[1]
    variables = ", ".join(sorted(ENV_VARS))
    return _page(
        svc_parser.build_parser,
        "OpenTaco state service (Terraform HTTP backend and management API)",
        [
            ("examples", verbatim(examples)),
            (
                "environment",
                roff(
                    "Environment variables read by the service (an option wins over its variable): "
                    f"{variables}."
                ),
            ),
            ("see also", "\\fBtaco\\fR(1)"),
        ],
        date,
    )


PAGES: dict[str, Callable[[str], str]] = {
    "taco.1": taco_page,
    "opentacosvc.1": opentacosvc_page,
}


def _undated(page: str) -> str:
    return _TH.sub(r'\1""', page, count=1)


def render(name: str) -> str:
    """The page as it should be, keeping the committed date if nothing else changed."""
    build = PAGES[name]
    path = MAN_DIR / name
    old = path.read_text() if path.exists() else ""
    fresh = build(get_reproducible_date())
    if old and _undated(old) == _undated(fresh):
        return old
    return fresh


def stale_pages() -> list[str]:
    return [name for name in PAGES if render(name) != _read(MAN_DIR / name)]


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def main(argv: Sequence[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description="Regenerate or check the man pages.")
    cli.add_argument("--check", action="store_true", help="only report stale pages (exit 1)")
    args = cli.parse_args(argv)
    stale = stale_pages()
    if args.check:
        for name in stale:
            print(f"man/{name} is stale: run 'nox -s manpages'", file=sys.stderr)
        return 1 if stale else 0
    for name in stale:
        (MAN_DIR / name).write_text(render(name))
        print(f"wrote man/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
