"""Origin URLs come in batches ahead of the fill's order, and are asked again before expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from appliance_agent.errors import FleetUnreachable
from appliance_agent.origin_urls import OriginUnavailable, OriginUrlResolver
from edgefill_contracts.fleet_api import OriginUrls

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


class Fleet:
    def __init__(self, *, valid_for: timedelta = timedelta(hours=1), leave_out: str = "") -> None:
        self.calls: list[list[str]] = []
        self.valid_for = valid_for
        self.leave_out = leave_out
        self.down = False
        self.now = NOW

    def __call__(self, keys: list[str]) -> OriginUrls:
        if self.down:
            raise FleetUnreachable("connection refused")
        self.calls.append(keys)
        return OriginUrls.model_validate(
            {
                "expires_at": self.now + self.valid_for,
                "urls": {
                    k: f"https://o.test/{k}?n={len(self.calls)}"
                    for k in keys
                    if k != self.leave_out
                },
            }
        )


KEYS = [f"t/r/{n:03d}" for n in range(10)]


def resolver(fleet: Fleet, batch_size: int = 4) -> OriginUrlResolver:
    made = OriginUrlResolver(fleet, batch_size=batch_size, clock=lambda: fleet.now)
    made.plan(KEYS)
    return made


def test_the_first_key_brings_the_next_batch_and_those_cost_no_call() -> None:
    fleet = Fleet()
    urls = resolver(fleet)
    assert urls.url_for(KEYS[0]) == "https://o.test/t/r/000?n=1"
    assert [urls.url_for(k) for k in KEYS[1:4]] == [f"https://o.test/{k}?n=1" for k in KEYS[1:4]]
    assert fleet.calls == [KEYS[0:4]]
    urls.url_for(KEYS[4])
    assert fleet.calls == [KEYS[0:4], KEYS[4:8]]


def test_a_key_out_of_order_asks_from_there_and_skips_what_is_fresh() -> None:
    fleet = Fleet()
    urls = resolver(fleet)
    urls.url_for(KEYS[6])
    urls.url_for(KEYS[2])
    assert fleet.calls == [KEYS[6:10], KEYS[2:6]]


def test_a_key_not_in_the_plan_is_asked_alone() -> None:
    fleet = Fleet()
    assert resolver(fleet).url_for("x/y/z") == "https://o.test/x/y/z?n=1"
    assert fleet.calls == [["x/y/z"]]


def test_urls_near_their_expiry_are_asked_again() -> None:
    fleet = Fleet(valid_for=timedelta(minutes=10))
    urls = resolver(fleet)
    urls.url_for(KEYS[0])
    fleet.now += timedelta(minutes=9)  # inside the 2-minute margin
    assert urls.url_for(KEYS[1]) == "https://o.test/t/r/001?n=2"


def test_an_unreachable_fleet_or_a_left_out_key_is_origin_unavailable() -> None:
    fleet = Fleet(leave_out=KEYS[0])
    urls = resolver(fleet)
    with pytest.raises(OriginUnavailable, match="no fresh origin URL for t/r/000"):
        urls.url_for(KEYS[0])
    fleet.down = True
    with pytest.raises(OriginUnavailable, match="connection refused"):
        urls.url_for(KEYS[5])


def test_a_batch_size_beyond_the_api_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        OriginUrlResolver(Fleet(), batch_size=1_001)
