"""When the fill window is open: site-local wall-clock times mapped to real instants.

A window `[start, end)` is given in the site's time zone and may cross midnight. Across DST
changes the rules are:

* a local time the clock skipped (spring forward) maps to the instant of the jump, so a window
  edge inside the gap moves to the end of the gap, and a window lying wholly inside it is empty
  that day;
* a local time that happened twice (fall back) means its first occurrence.

Both rules keep the local-to-UTC mapping monotone, so each day's window is a well-formed
interval of real time and a window is never opened twice for the same day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from edgefill_contracts import FillWindow

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class WindowInterval:
    """One day's window as aware UTC instants, `opens <= closes`."""

    local_date: date
    opens: datetime
    closes: datetime

    def contains(self, instant: datetime) -> bool:
        return self.opens <= instant < self.closes


def local_to_utc(naive: datetime, zone: ZoneInfo) -> datetime:
    """The instant a site-local wall-clock time denotes, by the module's DST rules."""
    first = naive.replace(tzinfo=zone, fold=0)
    as_utc = first.astimezone(UTC)
    if as_utc.astimezone(zone).replace(tzinfo=None) == naive:
        return as_utc  # exists (for a repeated time, fold=0 is the first occurrence)
    # Skipped by a spring-forward jump: find the jump, which lies between the two readings.
    low = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = as_utc
    if low > high:
        low, high = high, low
    after = high.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    # Transitions fall on whole seconds and `high` is less than a second past this one.
    return high.replace(microsecond=0)


def interval_for(window: FillWindow, local_date: date) -> WindowInterval:
    """The window that opens on `local_date` (site-local), closing the same or the next day."""
    zone = window.zone
    end_date = local_date if window.end > window.start else local_date + _ONE_DAY
    opens = local_to_utc(datetime.combine(local_date, window.start), zone)
    closes = local_to_utc(datetime.combine(end_date, window.end), zone)
    return WindowInterval(local_date=local_date, opens=opens, closes=max(opens, closes))


def current_interval(window: FillWindow, now: datetime) -> WindowInterval | None:
    """The window containing `now` (aware), or None when it is closed."""
    today = now.astimezone(window.zone).date()
    for day in (today - _ONE_DAY, today):
        interval = interval_for(window, day)
        if interval.contains(now):
            return interval
    return None


def next_interval(window: FillWindow, now: datetime) -> WindowInterval:
    """The first window that opens strictly after `now`."""
    day = now.astimezone(window.zone).date() - _ONE_DAY
    for _ in range(4):
        interval = interval_for(window, day)
        if interval.opens > now and interval.closes > interval.opens:
            return interval
        day += _ONE_DAY
    raise RuntimeError(f"no fill window opens within three days of {now.isoformat()}")


def is_open(window: FillWindow, now: datetime) -> bool:
    return current_interval(window, now) is not None
