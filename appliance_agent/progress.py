"""Fill progress for people: a rich progress bar on a terminal, periodic log lines otherwise."""

from __future__ import annotations

import logging
import threading
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from appliance_agent.fill import FillReport

logger = logging.getLogger(__name__)


class RichProgress:
    """Two bars: objects (n/m) and bytes (size, rate, ETA). Use as a context manager."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._objects: TaskID | None = None
        self._bytes: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._progress.stop()

    def started(self, *, objects: int, total_bytes: int, report: FillReport) -> None:
        self._objects = self._progress.add_task("objects", total=objects)
        self._bytes = self._progress.add_task("bytes", total=total_bytes)

    def advanced(self, nbytes: int) -> None:
        if self._bytes is not None:
            self._progress.advance(self._bytes, nbytes)

    def object_finished(self, key: str, *, ok: bool, report: FillReport) -> None:
        if self._objects is not None:
            self._progress.advance(self._objects, 1)

    def finished(self, report: FillReport) -> None:
        return None


class LogProgress:
    """One log line every `interval_s`: objects, bytes, rate and ETA."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self._interval = interval_s
        self._lock = threading.Lock()
        self._objects_total = 0
        self._objects_done = 0
        self._bytes_total = 0
        self._bytes_done = 0
        self._started = time.monotonic()
        self._last_line = self._started

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def started(self, *, objects: int, total_bytes: int, report: FillReport) -> None:
        with self._lock:
            self._objects_total, self._bytes_total = objects, total_bytes
            self._started = self._last_line = time.monotonic()

    def advanced(self, nbytes: int) -> None:
        with self._lock:
            self._bytes_done += nbytes
            now = time.monotonic()
            if now - self._last_line < self._interval:
                return
            self._last_line = now
            elapsed = max(now - self._started, 1e-6)
            rate = self._bytes_done / elapsed
            remaining = self._bytes_total - self._bytes_done
            eta = remaining / rate if rate else float("inf")
            done, total = self._objects_done, self._objects_total
            bytes_done, bytes_total = self._bytes_done, self._bytes_total
        logger.info(
            "fill progress: %d/%d objects, %d/%d bytes, %.1f MB/s, ETA %.0f s",
            done,
            total,
            bytes_done,
            bytes_total,
            rate / 1e6,
            eta,
        )

    def object_finished(self, key: str, *, ok: bool, report: FillReport) -> None:
        with self._lock:
            self._objects_done += 1

    def finished(self, report: FillReport) -> None:
        return None
