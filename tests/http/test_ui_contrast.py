"""The stylesheet's text colours meet WCAG 2.1 AA contrast (4.5:1) on the
backgrounds they are used on."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

CSS = (files("taco_http.ui") / "static" / "style.css").read_text()
VARIABLES = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", CSS))

# (text, background) as used by the pages: body text, hints, links, badges,
# the header, buttons, banners and the diff's colours.
PAIRS = [
    ("text", "bg"), ("muted", "bg"), ("muted", "panel"), ("link", "bg"), ("link", "panel"),
    ("green-text", "green-bg"), ("red-text", "red-bg"), ("yellow-text", "yellow-bg"),
    ("grey-text", "grey-bg"), ("text", "panel"), ("#ffffff", "#1f2933"), ("#ffffff", "accent"),
    ("#ffffff", "danger"), ("muted", "yellow-bg"), ("text", "red-bg"), ("link", "red-bg"),
    ("muted", "red-bg"), ("link", "yellow-bg"),
]  # fmt: skip


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def colour(name: str) -> str:
    return name if name.startswith("#") else VARIABLES[name]


@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_contrast_is_at_least_aa(text: str, background: str) -> None:
    """Each text colour on its background has a contrast ratio of at least 4.5:1."""
    a, b = sorted((luminance(colour(text)), luminance(colour(background))), reverse=True)
    assert (a + 0.05) / (b + 0.05) >= 4.5, (text, background)
