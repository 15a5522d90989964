"""``python -m taco_tf_provider``: what the installed provider executable runs."""

from __future__ import annotations

import sys

from taco_tf_provider.main import main

sys.exit(main())
