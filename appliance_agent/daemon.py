"""`appliance-agent run`: periodic tasks on their own threads until SIGTERM or SIGINT.

The fill scheduler is one task; other parts of the agent (the heartbeat) add theirs to
`daemon_tasks()`. A task is anything with a `name` and a `run(stop)` that returns soon after
`stop` is set.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from typing import Protocol

from appliance_agent.clock import Clock, utc_now
from appliance_agent.config import AgentConfig
from appliance_agent.fill import FillObserver
from appliance_agent.fill_cycle import CycleResult, FillCycle
from appliance_agent.progress import LogProgress
from appliance_agent.scrub import ScrubScheduler
from appliance_agent.window import current_interval, next_interval

logger = logging.getLogger(__name__)

# Re-check the clock at least this often while idle, so clock steps and DST are noticed.
MAX_IDLE_SLEEP_S = 600.0


class PeriodicTask(Protocol):
    name: str

    def run(self, stop: threading.Event) -> None: ...


class FillTarget(Protocol):
    """What the scheduler drives: FillCycle in the agent."""

    def run_once(
        self,
        *,
        observer: FillObserver | None = None,
        stop: threading.Event | None = None,
        deadline: datetime | None = None,
    ) -> CycleResult: ...


@dataclass
class EveryInterval:
    """Call `action` every `interval_s` seconds; a failing call is logged, never fatal."""

    name: str
    interval_s: float
    action: Callable[[], None]

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.action()
            except Exception:
                logger.exception("task %s failed; retrying in %.0f s", self.name, self.interval_s)
            stop.wait(self.interval_s)


class FillScheduler:
    """Fills when the window opens (after a per-window random jitter), again when a new
    manifest appears or objects are still missing, and never starts a download after the end."""

    name = "fill"

    def __init__(
        self,
        config: AgentConfig,
        cycle: FillTarget,
        *,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._cycle = cycle
        self._clock = clock
        # bandit B311: fill-window jitter, not a secret.
        self._rng = rng or random.Random()  # nosec B311
        self._jitter_for: datetime | None = None
        self._jitter_s = 0.0

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                delay = self.step(stop)
            except Exception:
                logger.exception("fill scheduling failed; trying again later")
                delay = self._config.manifest_poll_interval_s
            stop.wait(delay)

    def step(self, stop: threading.Event) -> float:
        """Do what is due now; return how many seconds to sleep before the next step."""
        window = self._config.fill_window
        now = self._clock()
        interval = current_interval(window, now)
        if interval is None:
            opens = next_interval(window, now).opens
            return min(max((opens - now).total_seconds(), 0.0), MAX_IDLE_SLEEP_S)
        if self._jitter_for != interval.opens:
            self._jitter_for = interval.opens
            self._jitter_s = self._rng.uniform(0.0, self._config.window_jitter_s)
        wait = self._jitter_s - (now - interval.opens).total_seconds()
        if wait > 0:
            return wait
        with LogProgress() as progress:
            result = self._cycle.run_once(observer=progress, stop=stop, deadline=interval.closes)
        if result.outcome == "no manifest":
            logger.warning("no manifest yet: nothing to fill")
        until_close = (interval.closes - self._clock()).total_seconds()
        return max(0.0, min(self._config.manifest_poll_interval_s, until_close))


def daemon_tasks(config: AgentConfig, cycle: FillCycle) -> list[PeriodicTask]:
    """Every task `appliance-agent run` runs; add a part's task here (one line)."""
    scrub = [ScrubScheduler(config)] if config.scrub_interval_s > 0 else []
    return [FillScheduler(config, cycle), *scrub]


def run_daemon(tasks: Sequence[PeriodicTask], *, stop: threading.Event | None = None) -> None:
    """Run every task on its own thread until SIGTERM/SIGINT (or `stop`), then join them."""
    stop = stop or threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info(
            "received %s: finishing in-flight work and stopping", signal.Signals(signum).name
        )
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {
            sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)
        }
    threads = [
        threading.Thread(target=task.run, args=(stop,), name=task.name, daemon=True)
        for task in tasks
    ]
    for thread in threads:
        thread.start()
    logger.info("agent running tasks: %s", ", ".join(task.name for task in tasks))
    while not stop.wait(1.0):
        if not any(thread.is_alive() for thread in threads):
            break
    stop.set()
    for thread in threads:
        thread.join()
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    logger.info("agent stopped")
