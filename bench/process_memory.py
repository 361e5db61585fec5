"""This process's peak resident size, as a benchmark run in a fresh interpreter reports it."""

from __future__ import annotations

from pathlib import Path


def peak_rss_bytes() -> int:
    """VmHWM from /proc: exec resets it, unlike getrusage's ru_maxrss, which in a child started
    by subprocess still counts the forked parent's pages from before the exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no VmHWM line")
