"""Disk use of the file system that holds the store."""

from __future__ import annotations

import shutil
from pathlib import Path

from edgefill_contracts import DiskUsage


def disk_usage(path: Path) -> DiskUsage:
    """Totals of the file system under `path` (the store); raises OSError if it is missing."""
    usage = shutil.disk_usage(path)
    return DiskUsage(total_bytes=usage.total, used_bytes=usage.used, free_bytes=usage.free)
