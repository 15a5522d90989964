"""What Terraform asks before anything else: service discovery, ping, the
message of the day, and the page ``terraform login`` points at.

Discovery must answer ``application/json`` (Terraform refuses the JSON:API
media type there) and needs no credentials; ``login.v1`` is offered only when
an OIDC provider is configured, because that is who ``terraform login``
would be sent to. Without it, ``terraform login`` falls back to asking for a
pasted API token, which ``/app/settings/tokens`` explains how to create.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from taco_http.context import services_of
from taco_http.tfe.common import TFE_HEADERS
from taco_http.tfe.paths import MOTD_PATH

API_PATH = "/api/v2/"
# The client ID Terraform presents to our login endpoints (fixed: it is ours,
# not the identity provider's) and the ports its local listener may use.
LOGIN_CLIENT_ID = "terraform-cli"
LOGIN_PORTS = (10000, 10010)


async def well_known(request: Request) -> Response:
    """``GET /.well-known/terraform.json``."""
    doc: dict[str, object] = {
        "tfe.v2": API_PATH,
        "tfe.v2.1": API_PATH,
        "tfe.v2.2": API_PATH,
        "state.v2": API_PATH,
        "motd.v1": MOTD_PATH,
    }
    if services_of(request).oidc is not None:
        doc["login.v1"] = {
            "client": LOGIN_CLIENT_ID,
            "grant_types": ["authz_code"],
            "authz": "/oauth/authorization",
            "token": "/oauth/token",
            "ports": list(LOGIN_PORTS),
        }
    return JSONResponse(doc, headers={"Cache-Control": "no-store"})


async def ping(request: Request) -> Response:
    """``GET /api/v2/ping``: Terraform reads only the headers."""
    return Response(status_code=204, headers=TFE_HEADERS)


async def motd(request: Request) -> Response:
    """``GET /api/terraform/motd``."""
    return JSONResponse({"msg": "OpenTaco: Terraform state storage (local execution only)."})


_TOKENS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>OpenTaco API tokens</title></head>
<body>
<h1>An API token for Terraform</h1>
<p>This server hands out API tokens, which Terraform uses as its token for this host.
Create one with the <code>taco</code> CLI (logged in, or with an admin token):</p>
<pre>taco token create --name terraform</pre>
<p>or over HTTP:</p>
<pre>curl -X POST https://HOST/v1/auth/tokens -H "Authorization: Bearer $TOKEN" \\
     -d '{"name": "terraform"}'</pre>
<p>Paste the <code>otc_...</code> value at the <code>terraform login</code> prompt, or put it in a
<code>credentials "HOST" { token = "..." }</code> block of your Terraform CLI configuration, or
(Terraform 1.2 and later) in the environment variable <code>TF_TOKEN_&lt;host&gt;</code>.</p>
</body></html>
"""


async def tokens_page(request: Request) -> Response:
    """``GET /app/settings/tokens``: where ``terraform login`` sends people
    when this server has no OIDC login."""
    return HTMLResponse(_TOKENS_PAGE)
