"""A global byte-rate limit shared by every download thread (a token bucket that allows debt)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """At most `rate` bytes per second on average, with a burst of `burst_s` seconds' worth.

    `acquire(n)` takes `n` tokens at once and sleeps off any debt, so callers taking more than
    the bucket holds still get the right average: each waits for the bytes queued before it.
    A rate of 0 disables the limit.
    """

    def __init__(
        self,
        rate: int,
        *,
        burst_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate < 0:
            raise ValueError(f"rate must be >= 0 bytes/s, got {rate}")
        self.rate = rate
        self._capacity = rate * burst_s
        self._tokens = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self, nbytes: int) -> None:
        if self.rate == 0 or nbytes <= 0:
            return
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= nbytes
            debt = -self._tokens
        if debt > 0:
            self._sleep(debt / self.rate)
