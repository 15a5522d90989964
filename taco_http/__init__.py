"""``opentacosvc``: the Starlette service over the core.

``create_app(settings)`` is the ASGI app; ``taco_http.wiring`` is its
composition root (``open_adapters``, ``open_services``), and handlers reach
the ``Services`` it builds with ``services_of(request)``. ``taco_http.main``
is the command.
"""

from __future__ import annotations

from taco_http.app import create_app
from taco_http.context import services_of
from taco_http.settings import Settings, SettingsError, from_env
from taco_http.wiring import Adapters, Services, open_adapters, open_services

__all__ = [
    "Adapters",
    "Services",
    "Settings",
    "SettingsError",
    "create_app",
    "from_env",
    "open_adapters",
    "open_services",
    "services_of",
]
