"""Entry point of `python -m lab.seed`."""

from __future__ import annotations

import sys

from lab.seed.cli import main

sys.exit(main())
