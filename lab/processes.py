"""Background processes of the lab (moto, the control plane, the scheduler), recorded to stop them.

Each process runs in its own session with its output in `<state>/logs/<name>.log`; its pid is
recorded in `<state>/processes.json` so `make demo-down` stops exactly what `make demo` started.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from lab.errors import LabError

logger = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel says is free now (the process binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


# Every child any table started in this interpreter, kept for the life of the process (the lab's
# servers outlive the table that started them) so whichever table stops them can reap them.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class ProcessTable:
    """The lab's processes on disk: start, record, wait until healthy, stop all."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.logs = state_dir / "logs"
        self._file = state_dir / "processes.json"

    def _load(self) -> dict[str, int]:
        """Recorded name -> pid, keeping only pids that are still the process we started (same
        kernel start time): a pid the kernel gave to another process since is never signalled."""
        if not self._file.exists():
            return {}
        recorded: dict[str, list[int]] = json.loads(self._file.read_text())
        return {
            name: pid
            for name, (pid, started) in recorded.items()
            if _start_time(pid) in (started, None)
        }

    def _save(self, table: Mapping[str, int]) -> None:
        recorded = {name: [pid, _start_time(pid)] for name, pid in table.items()}
        tmp = self._file.with_suffix(".tmp")
        tmp.write_text(json.dumps(recorded, indent=2))
        os.replace(tmp, self._file)

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> int:
        self.logs.mkdir(parents=True, exist_ok=True)
        table = self._load()
        if name in table and _alive(table[name]):
            raise LabError(f"{name} is already running (pid {table[name]}); run `make demo-down`")
        with (self.logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **env},
                start_new_session=True,
            )
        _CHILDREN[proc.pid] = proc
        table[name] = proc.pid
        self._save(table)
        logger.info("started %s (pid %d), log %s", name, proc.pid, self.logs / f"{name}.log")
        return proc.pid

    def wait_http(self, name: str, url: str, timeout: float = 30.0) -> None:
        """Wait until `url` answers (any HTTP status); fail with the log's tail if it never does."""
        deadline = time.monotonic() + timeout
        pid = self._load().get(name)
        while time.monotonic() < deadline:
            if pid is not None and not _alive(pid):
                break
            try:
                httpx.get(url, timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        tail = self.log_tail(name)
        raise LabError(f"{name} did not answer at {url} within {timeout:.0f}s. Log tail:\n{tail}")

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def running(self) -> list[str]:
        """Names of the recorded processes still alive."""
        return sorted(name for name, pid in self._load().items() if _alive(pid))

    def stop_all(self, grace: float = 5.0) -> list[str]:
        """SIGTERM every recorded process group, SIGKILL what is left after `grace` seconds."""
        table = self._load()
        _stop_groups(list(table.values()), signal.SIGTERM, grace)
        if self._file.exists():
            self._file.unlink()
        return sorted(table)

    def kill(self, name: str, grace: float = 5.0) -> int:
        """SIGKILL one recorded process group at once (a crash, not a shutdown); returns its pid."""
        table = self._load()
        if name not in table:
            raise LabError(f"{name} is not running in this lab (not in {self._file})")
        pid = table.pop(name)
        _stop_groups([pid], signal.SIGKILL, grace)
        self._save(table)
        return pid


def _stop_groups(pids: list[int], sig: signal.Signals, grace: float) -> None:
    """Send `sig` to each process group, SIGKILL what is left after `grace`, reap our children."""
    for pid in pids:
        _signal_group(pid, sig)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
        child = _CHILDREN.pop(pid, None)
        if child is not None:
            child.wait(timeout=grace)


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[19])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still "exists" for kill(0); /proc tells whether it has exited.
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
    except (OSError, IndexError):
        return False
    return status != "Z"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
