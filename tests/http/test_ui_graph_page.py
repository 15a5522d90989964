"""The dependency graph in the web UI, in-process: the picture and tables,
prefix and one-unit views, status badges in the list and on a unit's page,
and only what the caller may read."""

from __future__ import annotations

import json
import re

import pytest

from tests.http.ui_helpers import App, app
from tests.unit.graph_states import edge_resource, encode, graph_state

__all__ = ["app"]


def write(app: App, unit: str, serial: int, value: str) -> None:
    doc = {
        "version": 4,
        "serial": serial,
        "lineage": f"L-{unit}",
        "outputs": {"out": {"value": value, "type": "string"}},
        "resources": [],
    }
    app.write(unit, json.dumps(doc).encode())


@pytest.fixture
def chain(app: App) -> App:
    """app/a → app/b → app/c, then a's output changes: b is red, c yellow."""
    for unit in ("app/a", "app/b", "app/c", "lone/x"):
        write(app, unit, 1, f"{unit}-1")
    edges = [
        edge_resource("e0", "app/a", "out", "app/b"),
        edge_resource("e1", "app/b", "out", "app/c"),
    ]
    app.write("__opentaco_system", encode(graph_state(*edges, serial=1)))
    write(app, "app/a", 2, "changed")
    return app


def node_fills(page: str) -> dict[str, str]:
    return dict(
        re.findall(r'<a href="/ui/units/([^"]+)" class="node">.*?fill="(#[0-9a-f]+)"', page, re.S)
    )


def test_the_graph_page_draws_units_coloured_by_status(chain: App) -> None:
    """The picture has a linked, coloured box per unit and a labelled arrow
    per edge; the tables say the same in words."""
    page = chain.browser(chain.admin).get("/ui/graph").text
    assert node_fills(page) == {"app/a": "#d1fae5", "app/b": "#fee2e2", "app/c": "#fef3c7"}
    assert page.count('<g class="edge') == 2 and ">out</text>" in page
    assert "needs re-apply" in page and "might need re-apply" in page
    assert "lone/x" not in page
    assert page.count('data-label="From"') == 2


def test_a_prefix_or_a_unit_narrows_the_picture(chain: App) -> None:
    """?prefix= keeps those units and their neighbours; ?unit= one unit's edges."""
    browser = chain.browser(chain.admin)
    assert set(node_fills(browser.get("/ui/graph?prefix=app/c").text)) == {"app/b", "app/c"}
    assert set(node_fills(browser.get("/ui/graph?unit=app/a").text)) == {"app/a", "app/b"}
    assert (
        "No dependencies involve units starting with zzz"
        in browser.get("/ui/graph?prefix=zzz").text
    )
    assert browser.get("/ui/graph?unit=no/such").status_code == 404


def test_units_list_and_unit_page_show_the_status(chain: App) -> None:
    """The list badges units the graph names; a red unit's page names what changed."""
    browser = chain.browser(chain.admin)
    listing = browser.get("/ui/").text
    row_b = listing[listing.index(">app/b</a>") : listing.index(">app/c</a>")]
    assert "needs re-apply" in row_b
    row_x = listing[listing.index(">lone/x</a>") :]
    assert "re-apply" not in row_x.split("</tr>")[0]
    unit = browser.get("/ui/units/app/b").text
    assert 'badge red">needs re-apply' in unit
    assert 'because of <a href="/ui/units/app/a">app/a</a>' in unit
    assert "pending" in unit


def test_the_graph_shows_only_units_the_caller_may_read(chain: App) -> None:
    """A caller allowed app/b and app/c only sees neither app/a nor its edge."""
    token = chain.grant("bc", "bc-reader", ["unit.read"], "app/b")
    rule = {"effect": "allow", "actions": ["unit.read"], "resources": ["app/c"]}
    chain.api("POST", "/v1/rbac/permissions", {"id": "c", "rules": [rule]}, status=201)
    chain.api("POST", "/v1/rbac/roles/bc-reader/permissions", {"permission_id": "c"})
    page = chain.browser(token).get("/ui/graph").text
    assert set(node_fills(page)) == {"app/b", "app/c"}
    assert "app/a" not in page
