"""The lab's process table starts, waits for, and stops exactly what it started."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from lab.errors import LabError
from lab.processes import _CHILDREN, ProcessTable, _alive, free_port


def test_start_wait_stop(tmp_path: Path) -> None:
    table = ProcessTable(tmp_path)
    port = free_port()
    pid = table.start(
        "web", [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], env={}
    )
    try:
        table.wait_http("web", f"http://127.0.0.1:{port}/", timeout=15)
        assert _alive(pid)
        with pytest.raises(LabError, match="already running"):
            table.start("web", [sys.executable, "-c", "pass"], env={})
    finally:
        assert table.stop_all() == ["web"]
    assert not _alive(pid)
    assert table.stop_all() == []


def test_wait_fails_with_the_log_tail_when_the_process_dies(tmp_path: Path) -> None:
    table = ProcessTable(tmp_path)
    table.start(
        "broken",
        [sys.executable, "-c", "import sys; print('boom: no config'); sys.exit(3)"],
        env={},
    )
    try:
        with pytest.raises(LabError, match="boom: no config"):
            table.wait_http("broken", f"http://127.0.0.1:{free_port()}/", timeout=10)
    finally:
        table.stop_all()


def test_a_reused_pid_is_never_signalled(tmp_path: Path) -> None:
    table = ProcessTable(tmp_path)
    pid = table.start("sleeper", [sys.executable, "-c", "import time; time.sleep(30)"], env={})
    try:
        # Pretend the recorded process started at another time: its pid now names someone else.
        recorded = json.loads((tmp_path / "processes.json").read_text())
        recorded["sleeper"][1] += 1
        (tmp_path / "processes.json").write_text(json.dumps(recorded))
        assert ProcessTable(tmp_path).stop_all() == []
        assert _alive(pid)
    finally:
        os.kill(pid, signal.SIGKILL)
        _CHILDREN[pid].wait(timeout=10)


def test_kill_stops_one_process_at_once_and_leaves_the_rest(tmp_path: Path) -> None:
    table = ProcessTable(tmp_path)
    # Ignores SIGTERM: only a SIGKILL stops it, as a crash of the control plane would.
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    victim = table.start("victim", [sys.executable, "-c", stubborn], env={})
    bystander = table.start(
        "bystander", [sys.executable, "-c", "import time; time.sleep(60)"], env={}
    )
    try:
        assert table.kill("victim", grace=5) == victim
        assert not _alive(victim) and _alive(bystander)
        assert table.running() == ["bystander"]
        with pytest.raises(LabError, match="victim is not running in this lab"):
            table.kill("victim")
    finally:
        assert table.stop_all() == ["bystander"]
