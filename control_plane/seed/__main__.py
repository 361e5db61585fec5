"""Entry point of `python -m control_plane.seed`."""

from __future__ import annotations

import sys

from control_plane.seed.cli import main

sys.exit(main())
