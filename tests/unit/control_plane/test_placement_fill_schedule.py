"""Fill windows: when an appliance's next fill opens and closes."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from control_plane.placement.fill_schedule import next_window
from edgefill_contracts.fill_window import FillWindow


@pytest.mark.parametrize(
    ("window", "now", "opens", "closes"),
    [
        (
            FillWindow(),
            datetime(2026, 1, 1, 1, 0, tzinfo=UTC),
            datetime(2026, 1, 1, 2, 0, tzinfo=UTC),
            datetime(2026, 1, 1, 14, 0, tzinfo=UTC),
        ),
        (
            FillWindow(),
            datetime(2026, 1, 1, 3, 0, tzinfo=UTC),
            datetime(2026, 1, 1, 2, 0, tzinfo=UTC),
            datetime(2026, 1, 1, 14, 0, tzinfo=UTC),
        ),
        (
            FillWindow(),
            datetime(2026, 1, 1, 15, 0, tzinfo=UTC),
            datetime(2026, 1, 2, 2, 0, tzinfo=UTC),
            datetime(2026, 1, 2, 14, 0, tzinfo=UTC),
        ),
        (
            FillWindow(start=time(22, 0), end=time(4, 0), timezone="Europe/Amsterdam"),
            datetime(2026, 1, 2, 1, 0, tzinfo=UTC),
            datetime(2026, 1, 1, 21, 0, tzinfo=UTC),
            datetime(2026, 1, 2, 3, 0, tzinfo=UTC),
        ),
    ],
    ids=["before", "during", "after", "across-midnight-in-a-zone"],
)
def test_next_window(window: FillWindow, now: datetime, opens: datetime, closes: datetime) -> None:
    times = next_window(window, now=now)
    assert (times.opens, times.closes) == (opens, closes)
