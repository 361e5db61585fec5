"""`python -m lab.seed`: seed the stack named by EDGEFILL_* with generated titles."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from control_plane.common.errors import ControlPlaneError
from control_plane.common.settings import ServiceSettings
from lab.seed.media import MediaError, default_cache_dir
from lab.seed.upload import seed_catalog


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.seed", description=__doc__)
    parser.add_argument("--titles", type=int, default=6, help="how many titles (default 6)")
    parser.add_argument("--duration", type=int, default=4, help="seconds per title (default 4)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="encoded media cache")
    args = parser.parse_args(argv)
    if not 1 <= args.titles <= 500 or not 2 <= args.duration <= 60:
        parser.error("--titles must be 1..500 and --duration 2..60")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        seeded = seed_catalog(
            ServiceSettings(),
            titles=args.titles,
            duration_s=args.duration,
            cache_dir=args.cache_dir or default_cache_dir(),
        )
    except (MediaError, ControlPlaneError) as exc:
        print(f"seeding failed: {exc}", file=sys.stderr)
        return 1
    for title in seeded:
        print(f"{title.title_id}  {title.name}  ({len(title.renditions)} renditions)")
    return 0
