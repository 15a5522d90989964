"""``taco``: the OpenTaco command line.

A front end over the core's ``StateControl`` port: the same commands run
against a server (``taco_adapters.remote.RemoteStateControl``) or embedded on
a local SQLite file (``taco_core.service.StateService``).
"""

from __future__ import annotations

import importlib.metadata

__all__ = ["__version__"]


def _version() -> str:
    try:
        return importlib.metadata.version("opentaco")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


__version__ = _version()
