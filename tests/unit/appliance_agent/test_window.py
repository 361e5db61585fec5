"""The fill window across DST changes and midnight: examples, then properties (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance_agent.window import (
    current_interval,
    interval_for,
    is_open,
    local_to_utc,
    next_interval,
)
from edgefill_contracts import FillWindow

ZONES = [
    "UTC",
    "Europe/Amsterdam",
    "America/New_York",
    "America/Santiago",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Kolkata",  # +05:30, no DST
    "Pacific/Chatham",  # +12:45 / +13:45
]
MICRO = timedelta(microseconds=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- examples -----------------------------------------------------------------------------


def test_the_default_window_on_an_ordinary_day() -> None:
    window = FillWindow(start=time(2), end=time(14), timezone="Europe/Amsterdam")
    interval = interval_for(window, date(2026, 6, 10))
    assert (interval.opens, interval.closes) == (utc(2026, 6, 10, 0), utc(2026, 6, 10, 12))


def test_spring_forward_a_start_inside_the_gap_moves_to_the_jump() -> None:
    # Amsterdam, 29 March 2026: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    window = FillWindow(start=time(2, 30), end=time(14), timezone="Europe/Amsterdam")
    interval = interval_for(window, date(2026, 3, 29))
    assert interval.opens == utc(2026, 3, 29, 1)
    assert interval.closes == utc(2026, 3, 29, 12)


def test_spring_forward_a_window_wholly_inside_the_gap_is_empty_that_day() -> None:
    window = FillWindow(start=time(2, 10), end=time(2, 50), timezone="Europe/Amsterdam")
    interval = interval_for(window, date(2026, 3, 29))
    assert interval.opens == interval.closes == utc(2026, 3, 29, 1)
    assert next_interval(window, utc(2026, 3, 29, 0)).local_date == date(2026, 3, 30)


def test_fall_back_a_repeated_start_means_its_first_occurrence() -> None:
    # Amsterdam, 25 October 2026: 03:00 CEST falls back to 02:00 CET (01:00 UTC).
    window = FillWindow(start=time(2, 30), end=time(14), timezone="Europe/Amsterdam")
    interval = interval_for(window, date(2026, 10, 25))
    assert interval.opens == utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    assert interval.closes == utc(2026, 10, 25, 13)  # 14:00 CET: the window is 12.5 h that day


def test_a_window_crossing_midnight_is_open_on_both_sides_of_it() -> None:
    window = FillWindow(start=time(22), end=time(6), timezone="America/New_York")
    zone = ZoneInfo("America/New_York")
    late = datetime(2026, 7, 1, 23, 30, tzinfo=zone)
    early = datetime(2026, 7, 2, 5, 59, tzinfo=zone)
    noon = datetime(2026, 7, 2, 12, 0, tzinfo=zone)
    assert is_open(window, late) and is_open(window, early) and not is_open(window, noon)
    interval = current_interval(window, early)
    assert interval is not None and interval.local_date == date(2026, 7, 1)
    assert interval.closes == datetime(2026, 7, 2, 6, 0, tzinfo=zone)


def test_a_midnight_crossing_window_over_spring_forward_is_an_hour_shorter() -> None:
    window = FillWindow(start=time(22), end=time(6), timezone="America/New_York")
    interval = interval_for(window, date(2026, 3, 7))  # DST starts 8 March, 02:00
    assert interval.closes - interval.opens == timedelta(hours=7)


def test_closing_is_exclusive_and_opening_inclusive() -> None:
    window = FillWindow(start=time(2), end=time(14), timezone="UTC")
    assert is_open(window, utc(2026, 1, 5, 2))
    assert not is_open(window, utc(2026, 1, 5, 14))
    assert is_open(window, utc(2026, 1, 5, 14) - MICRO)


@pytest.mark.parametrize("zone", ["Europe/Amsterdam", "Australia/Lord_Howe"])
def test_local_times_in_a_gap_map_to_the_jump_and_stay_ordered(zone: str) -> None:
    tz = ZoneInfo(zone)
    day = date(2026, 3, 29) if zone == "Europe/Amsterdam" else date(2026, 10, 4)
    instants = [
        local_to_utc(datetime.combine(day, time(hour, minute)), tz)
        for hour in range(0, 5)
        for minute in range(0, 60, 5)
    ]
    assert instants == sorted(instants)


# --- properties -----------------------------------------------------------------------------

minute_times = st.builds(time, st.integers(0, 23), st.integers(0, 59))
windows = (
    st.tuples(minute_times, minute_times, st.sampled_from(ZONES))
    .filter(lambda t: t[0] != t[1])
    .map(lambda t: FillWindow(start=t[0], end=t[1], timezone=t[2]))
)


def _transition_days() -> list[date]:
    """Local dates on which one of ZONES changes its offset (2025-2027): where bugs hide."""
    days: set[date] = set()
    for name in ZONES:
        zone = ZoneInfo(name)
        day = date(2025, 1, 1)
        while day < date(2028, 1, 1):
            noon = datetime.combine(day, time(12), tzinfo=zone)
            if noon.utcoffset() != (noon + timedelta(days=1)).utcoffset():
                days.update({day, day + timedelta(days=1)})
            day += timedelta(days=1)
    return sorted(days)


TRANSITION_DAYS = _transition_days()
any_day = st.dates(min_value=date(2020, 1, 1), max_value=date(2031, 12, 31))
days = st.one_of(any_day, st.sampled_from(TRANSITION_DAYS))
instants = st.one_of(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2031, 12, 31), timezones=st.just(UTC)
    ),
    st.builds(
        lambda day, seconds: datetime.combine(day, time(), tzinfo=UTC) + timedelta(seconds=seconds),
        st.sampled_from(TRANSITION_DAYS),
        st.integers(-86_400, 2 * 86_400),
    ),
)


def _nominal(window: FillWindow) -> timedelta:
    start = datetime.combine(date(2000, 1, 1), window.start)
    end = datetime.combine(date(2000, 1, 1), window.end)
    return (end - start) % timedelta(days=1)


@settings(max_examples=500, deadline=None)
@given(windows, instants)
def test_open_exactly_inside_the_interval_it_reports(window: FillWindow, now: datetime) -> None:
    interval = current_interval(window, now)
    if interval is None:
        assert not is_open(window, now)
        return
    assert interval.opens <= now < interval.closes
    assert is_open(window, interval.closes - MICRO)
    after = current_interval(window, interval.closes)
    assert after is None or after.opens == interval.closes  # closed, or the next one touches


@settings(max_examples=500, deadline=None)
@given(windows, instants)
def test_the_next_window_opens_later_and_nothing_opens_in_between(
    window: FillWindow, now: datetime
) -> None:
    upcoming = next_interval(window, now)
    assert upcoming.opens > now
    assert upcoming.closes > upcoming.opens
    assert is_open(window, upcoming.opens)
    before = current_interval(window, upcoming.opens - MICRO)
    assert before is None or before.closes == upcoming.opens
    assert upcoming.opens - now <= timedelta(days=2)


@settings(max_examples=500, deadline=None)
@given(windows, days)
def test_consecutive_days_never_overlap_and_dst_shifts_a_window_by_at_most_an_hour(
    window: FillWindow, day: date
) -> None:
    today = interval_for(window, day)
    tomorrow = interval_for(window, day + timedelta(days=1))
    assert today.opens <= today.closes <= tomorrow.opens
    assert abs((today.closes - today.opens) - _nominal(window)) <= timedelta(hours=1)


@settings(max_examples=500, deadline=None)
@given(windows, instants)
def test_away_from_dst_changes_it_is_plain_wall_clock_arithmetic(
    window: FillWindow, now: datetime
) -> None:
    zone = window.zone
    offsets = {(now + timedelta(hours=h)).astimezone(zone).utcoffset() for h in range(-50, 51)}
    if len(offsets) != 1:
        return  # a transition nearby: the DST properties above cover it
    wall = now.astimezone(zone).time().replace(tzinfo=None)
    if window.start < window.end:
        expected = window.start <= wall < window.end
    else:
        expected = wall >= window.start or wall < window.end
    assert is_open(window, now) == expected
