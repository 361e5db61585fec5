"""Heartbeat cadence: jitter while healthy, capped exponential backoff while failing."""

from __future__ import annotations

import random

import pytest

from appliance_agent.health.heartbeat import next_delay
from appliance_agent.health.settings import HealthSettings

SETTINGS = HealthSettings(heartbeat_interval_s=10, heartbeat_jitter=0.2, backoff_max_s=120)


def test_healthy_delay_is_the_interval_with_jitter() -> None:
    rng = random.Random(7)
    delays = [next_delay(settings=SETTINGS, consecutive_failures=0, rng=rng) for _ in range(200)]
    assert all(8.0 <= d <= 12.0 for d in delays)
    assert max(delays) - min(delays) > 2.0  # actually spread, not a constant


@pytest.mark.parametrize(("failures", "base"), [(1, 20), (2, 40), (3, 80), (4, 120), (50, 120)])
def test_failing_delay_doubles_up_to_the_cap(failures: int, base: float) -> None:
    rng = random.Random(1)
    for _ in range(50):
        delay = next_delay(settings=SETTINGS, consecutive_failures=failures, rng=rng)
        assert base * 0.8 <= delay <= base * 1.2
