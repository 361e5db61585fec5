"""`python -m control_plane.recommendations`: run the nightly batch once against EDGEFILL_*."""

from __future__ import annotations

import sys

from control_plane.recommendations.cli import main

sys.exit(main())
