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
from appliance_agent.fill import FillObserver
from appliance_agent.fill_cycle import CycleOutcome, CycleResult
from edgefill_contracts import FillWindow

OPENS = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)
CLOSES = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)


@dataclass
class RecordingCycle:
    """A FillTarget that records each run and its deadline (what to fill is FillCycle's
    decision, tested with it in tests/integration/agent_fill/test_fill_cycle.py)."""

    outcome: CycleOutcome = "filled"
    runs: list[datetime | None] = field(default_factory=list)

    def run_once(
        self,
        *,
        observer: FillObserver | None = None,
        stop: threading.Event | None = None,
        deadline: datetime | None = None,
    ) -> CycleResult:
        self.runs.append(deadline)
        return CycleResult(outcome=self.outcome)


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
    config: AgentConfig,
) -> None:
    cycle = RecordingCycle()
    clock = Clock(OPENS - timedelta(minutes=3))
    assert _scheduler(config, cycle, clock).step(threading.Event()) == 180.0
    clock.now = OPENS - timedelta(hours=5)
    assert _scheduler(config, cycle, clock).step(threading.Event()) == MAX_IDLE_SLEEP_S
    assert cycle.runs == []


def test_at_the_opening_it_waits_its_jitter_then_runs_the_cycle_until_the_close(
    config: AgentConfig,
) -> None:
    cycle = RecordingCycle()
    clock = Clock(OPENS)
    scheduler = _scheduler(config, cycle, clock)
    jitter = scheduler.step(threading.Event())
    assert 0 < jitter <= 60
    assert cycle.runs == []

    clock.now = OPENS + timedelta(seconds=jitter)
    assert scheduler.step(threading.Event()) == 300.0
    assert cycle.runs == [CLOSES]


def test_appliances_of_a_site_spread_their_start_over_the_jitter(config: AgentConfig) -> None:
    waits = {
        _scheduler(config, RecordingCycle(), Clock(OPENS), seed).step(threading.Event())
        for seed in range(20)
    }
    assert len(waits) == 20 and all(0 <= w <= 60 for w in waits)


@pytest.mark.parametrize("outcome", ["filled", "held", "no manifest"])
def test_every_poll_in_the_window_runs_one_cycle_whatever_the_last_did(
    config: AgentConfig, outcome: CycleOutcome
) -> None:
    # Whether to fill (new manifest, incomplete store) is the cycle's decision, made afresh
    # at every poll: the scheduler only says when, and until when.
    cycle = RecordingCycle(outcome=outcome)
    clock = Clock(OPENS + timedelta(hours=1))
    scheduler = _scheduler(config, cycle, clock)
    for _ in range(3):
        assert scheduler.step(threading.Event()) == 300.0
        clock.now += timedelta(minutes=5)
    assert cycle.runs == [CLOSES] * 3


def test_near_the_close_it_sleeps_only_until_the_close(config: AgentConfig) -> None:
    cycle = RecordingCycle()
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
