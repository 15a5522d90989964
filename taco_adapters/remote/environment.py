"""Where a client finds the service and its token when nobody says.

One convention for every client on a machine (the ``taco`` CLI, the Terraform
provider, a script using ``RemoteStateControl``), so that a machine set up for
one is set up for all of them.
"""

from __future__ import annotations

DEFAULT_SERVER = "http://localhost:8080"
"""The server a client talks to when neither an argument nor ``SERVER_ENV`` names one."""

SERVER_ENV = "OPENTACO_SERVER"
"""The server's base URL."""

TOKEN_ENV = "OPENTACO_TOKEN"
"""An API token (or access token) to send instead of a saved login: for CI and
scripts, never saved and never renewed."""
