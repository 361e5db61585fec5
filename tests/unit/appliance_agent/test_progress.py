"""Fill progress for people: a rich bar on a terminal, log lines otherwise."""

from __future__ import annotations

import io
import logging

import pytest
from rich.console import Console

from appliance_agent.fill import FillReport
from appliance_agent.progress import LogProgress, RichProgress

REPORT = FillReport(manifest_version="v1")


def test_the_terminal_bar_shows_objects_bytes_and_rate() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160, color_system=None)
    with RichProgress(console=console) as progress:
        progress.started(objects=4, total_bytes=4_000_000, report=REPORT)
        progress.advanced(2_000_000)
        progress.object_finished("t/a", ok=True, report=REPORT)
        progress.object_finished("t/b", ok=True, report=REPORT)
        progress.finished(FillReport(manifest_version="v1"))
    text = out.getvalue()
    assert "objects" in text and "2/4" in text
    assert "bytes" in text and "2.0/4.0 MB" in text


def test_without_a_terminal_progress_is_logged_periodically(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="appliance_agent.progress")
    progress = LogProgress(interval_s=0.0)
    progress.started(objects=2, total_bytes=1000, report=REPORT)
    progress.object_finished("t/a", ok=True, report=REPORT)
    progress.advanced(500)
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("fill progress: 1/2 objects, 500/1000 bytes")
    assert "MB/s" in line and "ETA" in line


def test_log_lines_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="appliance_agent.progress")
    progress = LogProgress(interval_s=3600)
    progress.started(objects=1, total_bytes=10, report=REPORT)
    for _ in range(100):
        progress.advanced(1)
    assert caplog.records == []
