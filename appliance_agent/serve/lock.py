"""An exclusive lock on the nginx config directory, so two agent processes never swap at once."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from appliance_agent.serve.errors import ConfigLockBusy


class DirectoryLock:
    """`flock` on `<directory>/.lock`; released on exit, and by the kernel if the process dies."""

    def __init__(self, directory: Path, *, timeout_s: float = 30.0) -> None:
        self.path = directory / ".lock"
        self.timeout_s = timeout_s
        self._fd: int | None = None

    def __enter__(self) -> DirectoryLock:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise ConfigLockBusy(
                        f"{self.path} is held by another process for over {self.timeout_s:.0f} s; "
                        "another render or drain is running, retry when it is done"
                    ) from None
                time.sleep(0.05)
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
