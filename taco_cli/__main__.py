"""``python -m taco_cli``: the same as the ``taco`` command."""

from __future__ import annotations

import sys

from taco_cli.main import main

sys.exit(main())
