"""The daemon's scrub: it quarantines bit rot on its own, outside the fill window, and gives
way to a fill that holds the store."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from appliance_agent.config import AgentConfig
from appliance_agent.daemon import daemon_tasks
from appliance_agent.fill_cycle import FillCycle
from appliance_agent.scrub import ScrubScheduler
from appliance_agent.status import StatusFile
from appliance_agent.store import Store
from edgefill_contracts import FillWindow

KEY = "title-0001/360p/seg_00001.ts"
INSIDE_WINDOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
OUTSIDE_WINDOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def _config(tmp_path: Path, *, interval_s: float = 86_400.0) -> AgentConfig:
    return AgentConfig(
        control_plane_url="http://fleet.test",
        appliance_id="a1",
        byte_budget=0,
        state_dir=tmp_path / "state",
        store_path=tmp_path / "store",
        fill_window=FillWindow(start=time(2), end=time(14), timezone="UTC"),
        scrub_rate=0,
        scrub_interval_s=interval_s,
    )


def _publish(store: Store, key: str, data: bytes) -> Path:
    """Put `data` in the store under `key` as a fill would; returns the served path."""
    digest = hashlib.sha256(data).hexdigest()
    partial = store.partial_path(key=key, sha256=digest)
    partial.write_bytes(data)
    store.publish(partial, key=key, size=len(data), sha256=digest)
    return store.object_path(key)


def _rotten_store(config: AgentConfig, *, verified_at: float | None = None) -> Path:
    """A store holding one verified object, then one flipped byte in it.

    `verified_at` sets when the object was last verified (epoch seconds on the test's clock),
    instead of the real time of the publish.
    """
    store = Store(config.store_path)
    try:
        served = _publish(store, KEY, b"segment bytes " * 1000)
        if verified_at is not None:
            store.index.mark_verified(KEY, verified_at)
    finally:
        store.close()
    rotten = bytearray(served.read_bytes())
    rotten[100] ^= 0xFF
    served.write_bytes(bytes(rotten))
    return served


def test_outside_the_window_it_quarantines_and_reports(tmp_path: Path) -> None:
    config = _config(tmp_path)
    served = _rotten_store(config)
    scheduler = ScrubScheduler(config, clock=lambda: OUTSIDE_WINDOW)
    assert scheduler.scrub_once(threading.Event()) is True
    assert scheduler.last_report is not None and scheduler.last_report.quarantined == [KEY]
    assert not served.exists()
    errors = StatusFile(config.state_dir).read().errors
    assert any(f"verify quarantined {KEY}" in e for e in errors)


def test_inside_the_window_it_waits_and_touches_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path)
    served = _rotten_store(config)
    scheduler = ScrubScheduler(config, clock=lambda: INSIDE_WINDOW)
    assert scheduler.scrub_once(threading.Event()) is False
    assert scheduler.last_report is None and served.exists()


def test_a_fill_holding_the_store_puts_it_off(tmp_path: Path) -> None:
    config = _config(tmp_path)
    served = _rotten_store(config)
    store = Store(config.store_path)
    try:
        with store.exclusive("fill"):
            scheduler = ScrubScheduler(config, clock=lambda: OUTSIDE_WINDOW)
            assert scheduler.scrub_once(threading.Event()) is False
    finally:
        store.close()
    assert served.exists()


def test_the_daemon_task_scrubs_on_its_interval_and_stops(tmp_path: Path) -> None:
    config = _config(tmp_path, interval_s=0.05)
    # Verified on the test's clock, not the machine's: the scrub is due at once, whatever
    # the real time (a real verification time after OUTSIDE_WINDOW postponed it for minutes).
    served = _rotten_store(config, verified_at=OUTSIDE_WINDOW.timestamp() - 1)
    scheduler = ScrubScheduler(config, clock=lambda: OUTSIDE_WINDOW)
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run, args=(stop,))
    thread.start()
    try:
        for _ in range(200):
            if scheduler.last_report is not None:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert scheduler.last_report is not None and not served.exists()


@pytest.mark.parametrize(("interval_s", "names"), [(86_400.0, ["fill", "scrub"]), (0, ["fill"])])
def test_daemon_runs_the_scrub_unless_it_is_off(
    tmp_path: Path, interval_s: float, names: list[str]
) -> None:
    config = _config(tmp_path, interval_s=interval_s)
    cycle = FillCycle.__new__(FillCycle)  # never called: only the task list is built
    assert [task.name for task in daemon_tasks(config, cycle)] == names


def test_the_scrub_stops_when_the_fill_window_opens(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _rotten_store(config)
    store = Store(config.store_path)
    try:  # a second object, so the window can open between the two
        _publish(store, "title-0002/360p/seg_00001.ts", b"second object " * 100)
    finally:
        store.close()
    # Closed at the start and before the first object, open from then on.
    times = iter([OUTSIDE_WINDOW, OUTSIDE_WINDOW])
    scheduler = ScrubScheduler(config, clock=lambda: next(times, INSIDE_WINDOW))
    assert scheduler.scrub_once(threading.Event()) is False
    report = scheduler.last_report
    assert report is not None and report.stopped and report.checked == 1


def test_an_unexpected_error_does_not_end_the_scrub_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, interval_s=0.05)
    scheduler = ScrubScheduler(config, clock=lambda: OUTSIDE_WINDOW, retry_s=0.01)
    calls: list[int] = []

    def scrub_once(stop: threading.Event) -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")
        return True

    monkeypatch.setattr(scheduler, "scrub_once", scrub_once)
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run, args=(stop,))
    thread.start()
    try:
        for _ in range(200):
            if len(calls) >= 2:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert len(calls) >= 2 and not thread.is_alive()


def test_the_first_scrub_is_due_from_the_oldest_verification_not_the_start(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, interval_s=3600.0)
    _rotten_store(config, verified_at=OUTSIDE_WINDOW.timestamp() - 3500)
    scheduler = ScrubScheduler(config, clock=lambda: OUTSIDE_WINDOW)
    assert scheduler.first_delay() == pytest.approx(100.0)
    empty = ScrubScheduler(_config(tmp_path / "empty", interval_s=3600.0))
    assert empty.first_delay() == 3600.0
