"""The dependency graph's page: the picture (``graph_layout``, drawn as SVG),
filtered by prefix or centred on one unit, and beside it the same units and
edges as tables, which a screen reader or a phone reads more easily.

What it shows is ``GraphService.view`` for the caller: units it may read
and edges between two of them, coloured as the status API colours them.
"""

from __future__ import annotations

import anyio.to_thread
from starlette.responses import Response

from taco_core.unit_id import check_prefix, parse_unit_id
from taco_http.ui.forms import text
from taco_http.ui.frame import Visit
from taco_http.ui.graph_layout import GraphPicture, layout_graph, within_prefix
from taco_http.ui.unit_views import COLOUR_WORDS, unit_url

# A picture of more units than this is unreadable (and slow to lay out):
# the page asks for a prefix and shows the tables only.
MAX_PICTURED_UNITS = 300
# Rows of the tables under the picture.
MAX_LISTED = 2000


async def graph_page(visit: Visit) -> Response:
    query = visit.request.query_params
    prefix = check_prefix(text(query.get("prefix"), "prefix"))
    raw_unit = text(query.get("unit"), "unit")
    unit = parse_unit_id(raw_unit) if raw_unit else None
    view = within_prefix(await visit.services.graph.view(visit.caller, unit), prefix)
    picture: GraphPicture | None = None
    if 0 < len(view.nodes) <= MAX_PICTURED_UNITS:
        picture = await anyio.to_thread.run_sync(layout_graph, view)
    return visit.page(
        "graph.html",
        nav="graph",
        prefix=prefix,
        unit=unit,
        picture=picture,
        too_many=len(view.nodes) > MAX_PICTURED_UNITS,
        nodes=view.nodes[:MAX_LISTED],
        edges=view.edges[:MAX_LISTED],
        hidden=max(0, len(view.nodes) - MAX_LISTED) + max(0, len(view.edges) - MAX_LISTED),
        words=COLOUR_WORDS,
        unit_url=unit_url,
    )
