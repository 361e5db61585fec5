"""`appliance-agent run` as a real process: fills in the open window, refills on a new manifest,
and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lab.static_nginx import static_nginx
from tests.integration.agent_fill.agent_lab import AgentLab, make_objects, manifest_body, write_tree

pytestmark = pytest.mark.nginx

ROOT = Path(__file__).resolve().parents[3]


def _eventually(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise TimeoutError(f"condition not met within {timeout_s} s")


def test_the_daemon_fills_refills_on_a_new_manifest_and_stops_on_sigterm(
    lab: AgentLab, tmp_path: Path
) -> None:
    v1 = make_objects(2, min_size=1000, max_size=3000, seed=40)
    v2 = make_objects(3, min_size=1000, max_size=3000, seed=41, title="title-b")
    origin_root = tmp_path / "origin"
    write_tree(origin_root, v1 + v2)
    now = datetime.now(UTC)
    with static_nginx(origin_root, tmp_path / "origin-nginx") as origin:
        lab.fleet.serve(manifest_body(v1, lambda o: [origin.url(o.key)], version="v1"))
        config = lab.write_config_file(
            window_jitter_s=0,
            manifest_poll_interval_s=0.5,
        )
        window = (
            "\n[fill_window]\n"
            f'start = "{(now - timedelta(hours=1)).strftime("%H:%M")}"\n'
            f'end = "{(now + timedelta(hours=1)).strftime("%H:%M")}"\n'
            'timezone = "UTC"\n'
        )
        config.write_text(config.read_text() + window)
        agent = subprocess.Popen(
            [sys.executable, "-m", "appliance_agent.cli", "--config", str(config), "run"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _eventually(
                lambda: (
                    lab.status().manifest_version == "v1" and lab.status().fill.last_result == "ok"
                )
            )
            assert set(lab.served_files()) == {o.key for o in v1}

            lab.fleet.serve(manifest_body(v2, lambda o: [origin.url(o.key)], version="v2"))
            _eventually(
                lambda: lab.status().manifest_version == "v2" and lab.status().missing_count == 0
            )
            _eventually(lambda: set(lab.served_files()) == {o.key for o in v2})
            # Later polls send the ETag and cost no manifest transfer.
            _eventually(lambda: 304 in lab.fleet.statuses)
        finally:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(timeout=15)
            finally:
                if agent.poll() is None:
                    agent.kill()
                    agent.wait(timeout=10)
        stderr = agent.stderr.read() if agent.stderr else ""
        if agent.stderr:
            agent.stderr.close()

    assert agent.returncode == 0, stderr
    assert "received SIGTERM" in stderr and "agent stopped" in stderr
