"""The provider's composition root: the process Terraform starts.

Only here is the environment read, the remote client chosen and the event loop
started (one blocking portal for the life of the process). Terraform talks to
the process over gRPC after a handshake line on stdout, so nothing else may
ever be written there.
"""

from __future__ import annotations

import os
import sys

from anyio.from_thread import start_blocking_portal
from tf.runner import run_provider

from taco_tf_provider import client
from taco_tf_provider.provider import OpenTacoProvider

# go-plugin's handshake: Terraform (and OpenTofu) set it when they start a provider.
MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"


def main() -> int:
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        sys.stderr.write(
            "This is the OpenTaco Terraform provider, a plugin that Terraform starts.\n"
            "Install it with 'taco provider install', then use it from a Terraform "
            "configuration (see 'taco provider init').\n"
        )
        return 1
    try:
        with start_blocking_portal(backend="asyncio") as portal:
            provider = OpenTacoProvider(
                portal, environ=os.environ, resolve=client.resolve, connect=client.connect
            )
            try:
                run_provider(provider, sys.argv)
            finally:
                provider.close()
    except KeyboardInterrupt:
        return 130  # Terraform was interrupted and tells the user; nothing to add
    return 0
