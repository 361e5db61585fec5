"""The global rate limit: right average under any chunking and many threads, off at 0."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance_agent.rate_limit import RateLimiter


class FakeClock:
    """Time that moves only when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@given(
    rate=st.integers(1_000, 10**9),
    chunks=st.lists(st.integers(1, 4 << 20), min_size=1, max_size=200),
)
def test_the_average_never_exceeds_the_rate_beyond_one_burst(rate: int, chunks: list[int]) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate, burst_s=0.1, clock=clock, sleep=clock.sleep)
    for chunk in chunks:
        limiter.acquire(chunk)
    total = sum(chunks)
    # Bytes taken by time T are at most one burst plus rate * T; and it never waits needlessly.
    assert total <= rate * 0.1 + rate * clock.now + 1e-6 * rate
    assert clock.now <= max(0.0, (total - rate * 0.1) / rate) + 1e-9


def test_zero_means_unlimited() -> None:
    clock = FakeClock()
    limiter = RateLimiter(0, clock=clock, sleep=clock.sleep)
    limiter.acquire(10**12)
    assert clock.now == 0.0


def test_a_negative_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="rate must be >= 0"):
        RateLimiter(-1)


def test_threads_share_one_budget_in_real_time() -> None:
    rate = 2_000_000
    limiter = RateLimiter(rate, burst_s=0.01)
    per_thread = 100_000

    def take() -> None:
        for _ in range(10):
            limiter.acquire(10_000)

    threads = [threading.Thread(target=take) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    # 400 kB at 2 MB/s is 0.2 s less one 20 kB burst; four unshared limiters would take 0.05 s.
    assert elapsed >= (4 * per_thread - rate * 0.01) / rate * 0.95
