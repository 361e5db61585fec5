"""One daemon per state directory: a second `appliance-agent run` beside it refuses to start.

Two daemons on one state directory would both tail the access log from the served ledger's
position and report the same bytes under different report ids (counted twice), and would
fight over the drain and status files. The lock is an `flock` the kernel drops when the
process dies, so a crashed daemon never blocks its successor.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance_agent.errors import DaemonAlreadyRunning

LOCK_FILE_NAME = "daemon.lock"


@contextmanager
def single_daemon(state_dir: Path) -> Iterator[None]:
    """Hold `<state_dir>/daemon.lock` for the daemon's life; raise if another process holds it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / LOCK_FILE_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DaemonAlreadyRunning(
            f"another appliance-agent daemon holds {path}; stop it first (systemctl stop "
            "edgefill-agent) or use the one-shot commands (fill, verify, heartbeat, status)"
        ) from None
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
