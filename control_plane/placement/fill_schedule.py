"""When a site's next fill window opens and closes, in UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from edgefill_contracts.fill_window import FillWindow


@dataclass(frozen=True)
class WindowTimes:
    opens: datetime
    closes: datetime


def next_window(window: FillWindow, *, now: datetime) -> WindowTimes:
    """The window in progress at `now`, or else the next one to open (both ends in UTC)."""
    local_now = now.astimezone(window.zone)
    for day_offset in (-1, 0):
        times = _window_of(window, local_now.date() + timedelta(days=day_offset))
        if times.closes > now:
            return times
    # Tomorrow's window closes after now whatever the time of day.
    return _window_of(window, local_now.date() + timedelta(days=1))


def _window_of(window: FillWindow, day: date) -> WindowTimes:
    opens = datetime.combine(day, window.start, tzinfo=window.zone)
    closes_day = day if window.end > window.start else day + timedelta(days=1)
    closes = datetime.combine(closes_day, window.end, tzinfo=window.zone)
    return WindowTimes(opens=opens.astimezone(UTC), closes=closes.astimezone(UTC))
