"""The daemon: when the fill scheduler fills, and how periodic tasks start and stop."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from appliance_agent.config import AgentConfig
from appliance_agent.daemon import MAX_IDLE_SLEEP_S, EveryInterval, FillScheduler, run_daemon
from appliance_agent.fill import FillObserver, FillReport
from appliance_agent.fill_cycle import ManifestRefresh
from appliance_agent.status import StatusFile
from edgefill_contracts import FillWindow, Manifest

OPENS = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)
CLOSES = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)


def _manifest(version: str) -> Manifest:
    return Manifest(
        appliance_id="a1",
        version=version,
        generated_at=OPENS,
        fill_window=FillWindow(),
        byte_budget=0,
        objects=[],
    )


@dataclass
class RecordingCycle:
    """A FillTarget that records calls; `status` is a real status file."""

    status: StatusFile
    manifest: Manifest | None = None
    changed: bool = False
    refreshes: int = 0
    fills: list[datetime | None] = field(default_factory=list)
    result: str = "ok"

    def refresh(self) -> ManifestRefresh:
        self.refreshes += 1
        version = self.manifest.version if self.manifest else None
        return ManifestRefresh(version=version, changed=self.changed)

    def manifest_for(self, refresh: ManifestRefresh) -> Manifest | None:
        return self.manifest

    def fill(
        self,
        manifest: Manifest,
        *,
        observer: FillObserver | None = None,
        stop: threading.Event | None = None,
        deadline: datetime | None = None,
    ) -> FillReport:
        self.fills.append(deadline)
        self.status.update(
            lambda s: s.model_copy(
                update={
                    "manifest_version": manifest.version,
                    "fill": s.fill.model_copy(update={"last_result": self.result}),
                }
            )
        )
        return FillReport(manifest_version=manifest.version)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def config(tmp_path: Path) -> AgentConfig:
    return AgentConfig(
        control_plane_url="http://fleet.test",
        appliance_id="a1",
        byte_budget=0,
        state_dir=tmp_path,
        fill_window=FillWindow(start=time(2), end=time(14), timezone="UTC"),
        window_jitter_s=60,
        manifest_poll_interval_s=300,
    )


def _scheduler(
    config: AgentConfig, cycle: RecordingCycle, clock: Clock, seed: int = 1
) -> FillScheduler:
    return FillScheduler(config, cycle, clock=clock, rng=random.Random(seed))


def test_outside_the_window_it_sleeps_until_the_opening_without_asking_for_a_manifest(
    config: AgentConfig, tmp_path: Path
) -> None:
    cycle = RecordingCycle(StatusFile(tmp_path), manifest=_manifest("v1"), changed=True)
    clock = Clock(OPENS - timedelta(minutes=3))
    assert _scheduler(config, cycle, clock).step(threading.Event()) == 180.0
    clock.now = OPENS - timedelta(hours=5)
    assert _scheduler(config, cycle, clock).step(threading.Event()) == MAX_IDLE_SLEEP_S
    assert (cycle.refreshes, cycle.fills) == (0, [])


def test_at_the_opening_it_waits_its_jitter_then_fills_until_the_close(
    config: AgentConfig, tmp_path: Path
) -> None:
    cycle = RecordingCycle(StatusFile(tmp_path), manifest=_manifest("v1"), changed=True)
    clock = Clock(OPENS)
    scheduler = _scheduler(config, cycle, clock)
    jitter = scheduler.step(threading.Event())
    assert 0 < jitter <= 60
    assert cycle.refreshes == 0

    clock.now = OPENS + timedelta(seconds=jitter)
    assert scheduler.step(threading.Event()) == 300.0
    assert cycle.fills == [CLOSES]


def test_appliances_of_a_site_spread_their_start_over_the_jitter(
    config: AgentConfig, tmp_path: Path
) -> None:
    waits = {
        _scheduler(config, RecordingCycle(StatusFile(tmp_path)), Clock(OPENS), seed).step(
            threading.Event()
        )
        for seed in range(20)
    }
    assert len(waits) == 20 and all(0 <= w <= 60 for w in waits)


def test_an_unchanged_complete_manifest_is_not_filled_again(
    config: AgentConfig, tmp_path: Path
) -> None:
    cycle = RecordingCycle(StatusFile(tmp_path), manifest=_manifest("v1"), changed=True)
    clock = Clock(OPENS + timedelta(hours=1))
    scheduler = _scheduler(config, cycle, clock)
    scheduler.step(threading.Event())
    cycle.changed = False
    scheduler.step(threading.Event())
    assert len(cycle.fills) == 1 and cycle.refreshes == 2


def test_a_new_manifest_within_the_window_is_filled_again(
    config: AgentConfig, tmp_path: Path
) -> None:
    cycle = RecordingCycle(StatusFile(tmp_path), manifest=_manifest("v1"), changed=True)
    clock = Clock(OPENS + timedelta(hours=1))
    scheduler = _scheduler(config, cycle, clock)
    scheduler.step(threading.Event())
    cycle.manifest = _manifest("v2")
    clock.now += timedelta(minutes=5)
    scheduler.step(threading.Event())
    assert len(cycle.fills) == 2


def test_an_incomplete_fill_is_retried_at_the_next_poll(
    config: AgentConfig, tmp_path: Path
) -> None:
    cycle = RecordingCycle(
        StatusFile(tmp_path), manifest=_manifest("v1"), changed=True, result="partial"
    )
    clock = Clock(OPENS + timedelta(hours=1))
    scheduler = _scheduler(config, cycle, clock)
    scheduler.step(threading.Event())
    cycle.changed = False
    scheduler.step(threading.Event())
    assert len(cycle.fills) == 2


def test_near_the_close_it_sleeps_only_until_the_close(config: AgentConfig, tmp_path: Path) -> None:
    cycle = RecordingCycle(StatusFile(tmp_path), manifest=_manifest("v1"))
    clock = Clock(CLOSES - timedelta(seconds=42))
    scheduler = _scheduler(config, cycle, clock)
    scheduler.step(threading.Event())  # consumes the jitter decision for this window
    assert scheduler.step(threading.Event()) == 42.0


def test_tasks_run_until_stop_and_a_failing_task_keeps_running(config: AgentConfig) -> None:
    calls: list[str] = []
    stop = threading.Event()

    def flaky() -> None:
        calls.append("flaky")
        if len(calls) >= 3:
            stop.set()
        raise RuntimeError("transient")

    run_daemon([EveryInterval(name="flaky", interval_s=0.01, action=flaky)], stop=stop)
    assert calls == ["flaky"] * 3
