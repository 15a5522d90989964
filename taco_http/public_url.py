"""The URL clients reach this service at, for the URLs it hands out.

Upload URLs, download URLs and OAuth redirects must point where the client can
reach us, which behind a reverse proxy is not where we listen. In order:
``OPENTACO_PUBLIC_BASE_URL`` when set (the same on every replica); else, with
``OPENTACO_TRUST_PROXY=true``, the proxy's ``X-Forwarded-Proto`` and
``X-Forwarded-Host``; else the scheme and ``Host`` the request arrived with.
Forwarded headers from anyone else are ignored: a client could otherwise make
us hand out URLs to a host of its choosing.
"""

from __future__ import annotations

from starlette.requests import Request

from taco_http.context import services_of


def _first(value: str) -> str:
    return value.split(",", 1)[0].strip()


def public_base_url(request: Request) -> str:
    """``scheme://host[:port]`` (and any path prefix of the public base URL),
    without a trailing slash."""
    settings = services_of(request).settings
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    scheme = request.url.scheme
    host = request.headers.get("host") or request.url.netloc
    if settings.trust_proxy:
        scheme = _first(request.headers.get("x-forwarded-proto", "")) or scheme
        host = _first(request.headers.get("x-forwarded-host", "")) or host
    return f"{scheme}://{host}"
