"""Run the nightly recommendations batch once, locally, and print its summary."""

from __future__ import annotations

import json
import logging
import sys

from control_plane.common.errors import ControlPlaneError
from control_plane.common.settings import ServiceSettings
from control_plane.recommendations.batch import run_nightly


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        summary = run_nightly(ServiceSettings())
    except ControlPlaneError as exc:
        print(f"recommendations batch failed: {exc.message}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0
