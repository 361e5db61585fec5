"""Daily exponential decay of popularity scores."""

from __future__ import annotations

from datetime import date

DEFAULT_HALF_LIFE_DAYS = 7.0


def decay_factor(*, days: int, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> float:
    """How much of a score survives `days` whole days (1.0 for zero or negative days)."""
    if half_life_days <= 0:
        raise ValueError(f"half-life must be positive, got {half_life_days}")
    return float(0.5 ** (max(days, 0) / half_life_days))


def decayed_score(
    *, score: float, as_of: date, today: date, half_life_days: float = DEFAULT_HALF_LIFE_DAYS
) -> float:
    """`score` recorded on `as_of`, seen on `today`."""
    return score * decay_factor(days=(today - as_of).days, half_life_days=half_life_days)
