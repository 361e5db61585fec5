"""Polling the lab until a condition holds, with an error that names what was awaited."""

from __future__ import annotations

import time
from collections.abc import Callable

from lab.errors import LabError


def wait_until(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `check` every second until it holds; LabError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1.0)
    raise LabError(f"timed out after {timeout:.0f}s waiting for {what}")
