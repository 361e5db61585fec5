"""Resume: a killed agent or a parked download re-downloads none of the bytes it completed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance_agent.fill import SilentObserver
from appliance_agent.fill_cycle import FillCycle, http_client
from lab.static_nginx import static_nginx
from tests.integration.agent_fill.agent_lab import (
    MIB,
    AgentLab,
    make_objects,
    manifest_body,
    write_tree,
)

pytestmark = pytest.mark.nginx

ROOT = Path(__file__).resolve().parents[3]


def _eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout_s} s")
        time.sleep(0.02)


def _wait_for_partial(partial_dir: Path, *, at_least: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sizes = [p.stat().st_size for p in partial_dir.glob("*.part")]
        if sizes and max(sizes) >= at_least:
            return
        time.sleep(0.02)
    raise TimeoutError(f"no partial file reached {at_least} bytes in {timeout_s} s")


def test_resume_after_killing_the_agent_mid_object_refetches_no_completed_byte(
    lab: AgentLab, tmp_path: Path
) -> None:
    small = make_objects(2, min_size=100_000, max_size=100_000, seed=10, title="a-small")
    big = make_objects(1, min_size=6 * MIB, max_size=6 * MIB, seed=11, title="z-big")
    objects = small + big
    origin_root = tmp_path / "origin"
    write_tree(origin_root, objects)
    with static_nginx(origin_root, tmp_path / "origin-nginx") as origin:
        lab.fleet.serve(manifest_body(objects, lambda o: [origin.url(o.key)]))
        config = lab.write_config_file(concurrency=1, max_fill_rate=3_000_000)
        agent = subprocess.Popen(
            [sys.executable, "-m", "appliance_agent.cli", "--config", str(config), "fill", "--now"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_partial(lab.store_path / ".partial", at_least=2 * MIB)
            during = lab.status()  # what a heartbeat sent now would report
        finally:
            os.kill(agent.pid, signal.SIGKILL)
            agent.wait(timeout=10)
        assert (during.activity, during.manifest_version, during.fill.running) == (
            "filling",
            "v1",
            True,
        )
        assert during.fill.bytes_total == sum(o.size for o in objects)
        (partial,) = (lab.store_path / ".partial").glob("*.part")
        kept = partial.stat().st_size
        assert 2 * MIB <= kept < big[0].size
        assert big[0].key not in lab.served_files()  # nothing partial is ever served
        # nginx logs the cut-off request once it notices the closed connection: wait for it.
        _eventually(lambda: len(origin.requests()) == len(objects))
        first_run = len(origin.requests())

        report = lab.fill()
        second_run = origin.requests()[first_run:]

    assert report.result == "ok"
    assert report.bytes_transferred == big[0].size - kept
    # Measured at the server: one ranged request for exactly the missing tail.
    assert [(r.uri, r.status, r.body_bytes, r.range_header) for r in second_run] == [
        (f"/{big[0].key}", 206, big[0].size - kept, f"bytes={kept}-")
    ]
    assert lab.served_files() == {o.key: o.sha256 for o in objects}


class _CloseWindowOnFirstBytes(SilentObserver):
    def __init__(self, closed: threading.Event) -> None:
        self._closed = closed

    def advanced(self, nbytes: int) -> None:
        self._closed.set()


def test_a_download_in_flight_at_the_window_end_is_parked_then_resumed(
    lab: AgentLab, tmp_path: Path
) -> None:
    objects = make_objects(1, min_size=4 * MIB, max_size=4 * MIB, seed=12)
    origin_root = tmp_path / "origin"
    write_tree(origin_root, objects)
    with static_nginx(origin_root, tmp_path / "origin-nginx") as origin:
        lab.fleet.serve(manifest_body(objects, lambda o: [origin.url(o.key)]))
        config = lab.config(max_fill_rate=2_000_000, window_park_grace_s=60)
        window_end = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)
        # The clock stands just before the window's end until the first bytes arrive, then
        # jumps past the end and its grace: the download is in flight when the window closes.
        closed = threading.Event()
        observer = _CloseWindowOnFirstBytes(closed)

        def clock() -> datetime:
            return window_end + timedelta(hours=1 if closed.is_set() else 0, seconds=-1)

        with http_client(config) as client:
            cycle = FillCycle(config, client=client, clock=clock)
            manifest = cycle.refresh().manifest
            assert manifest is not None
            parked = cycle.fill(manifest, deadline=window_end, observer=observer)

        (partial,) = (lab.store_path / ".partial").glob("*.part")
        kept = partial.stat().st_size
        resumed = lab.fill()

    assert parked.objects_parked == 1
    assert parked.result == "failed"
    assert 0 < kept < objects[0].size
    assert lab.status().fill.last_result == "ok"
    assert resumed.bytes_transferred == objects[0].size - kept
    assert lab.served_files() == {objects[0].key: objects[0].sha256}


def test_within_the_grace_the_download_in_flight_finishes_and_no_new_one_starts(
    lab: AgentLab, tmp_path: Path
) -> None:
    objects = make_objects(2, min_size=MIB, max_size=MIB, seed=14)
    origin_root = tmp_path / "origin"
    write_tree(origin_root, objects)
    with static_nginx(origin_root, tmp_path / "origin-nginx") as origin:
        lab.fleet.serve(manifest_body(objects, lambda o: [origin.url(o.key)]))
        config = lab.config(concurrency=1, window_park_grace_s=3600)
        window_end = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)
        closed = threading.Event()

        def clock() -> datetime:
            # Past the end once bytes flow, but well inside the grace.
            return window_end + timedelta(seconds=1 if closed.is_set() else -1)

        with http_client(config) as client:
            cycle = FillCycle(config, client=client, clock=clock)
            manifest = cycle.refresh().manifest
            assert manifest is not None
            report = cycle.fill(
                manifest, deadline=window_end, observer=_CloseWindowOnFirstBytes(closed)
            )
        requests = origin.requests()

    assert (report.objects_fetched, report.objects_parked) == (1, 0)
    assert report.stop_reason == "fill window closed"
    assert report.result == "partial"
    assert [r.uri for r in requests] == [f"/{objects[0].key}"]
    assert set(lab.served_files()) == {objects[0].key}


def test_no_download_starts_after_the_window_has_closed(lab: AgentLab, tmp_path: Path) -> None:
    objects = make_objects(2, min_size=1000, max_size=2000, seed=13)
    origin_root = tmp_path / "origin"
    write_tree(origin_root, objects)
    with static_nginx(origin_root, tmp_path / "origin-nginx") as origin:
        lab.fleet.serve(manifest_body(objects, lambda o: [origin.url(o.key)]))
        config = lab.config()
        with http_client(config) as client:
            cycle = FillCycle(config, client=client)
            manifest = cycle.refresh().manifest
            assert manifest is not None
            report = cycle.fill(manifest, deadline=datetime.now(UTC) - timedelta(seconds=1))
        requests = origin.requests()

    assert report.stop_reason == "fill window closed"
    assert (report.objects_fetched, requests) == (0, [])
