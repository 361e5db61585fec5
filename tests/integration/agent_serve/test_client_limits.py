"""Per-client limits on playback paths against a real nginx: over the connection or request
limit a client gets 429; peer fills (/f/) are not limited; 0 turns a limit off."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.integration.agent_serve.appliance_nginx import (
    RunningAppliance,
    appliance_settings,
    put_object,
    run_appliance,
)

pytestmark = pytest.mark.nginx

KEY = "title-1/720p/media.mp4"
BIG = 64 * 1024 * 1024  # a response nginx is still sending while the client does not read


@pytest.fixture
def one_connection(tmp_path: Path) -> Iterator[RunningAppliance]:
    settings = appliance_settings(
        tmp_path, client_limits={"max_connections": 1, "requests_per_second": 0}
    )
    yield from run_appliance(settings)


@pytest.fixture
def two_per_second(tmp_path: Path) -> Iterator[RunningAppliance]:
    settings = appliance_settings(
        tmp_path, client_limits={"max_connections": 0, "requests_per_second": 1, "burst": 1}
    )
    yield from run_appliance(settings)


def test_a_second_connection_over_the_limit_gets_429(one_connection: RunningAppliance) -> None:
    put_object(one_connection.settings, KEY, os.urandom(1024) * (BIG // 1024))
    url = one_connection.url(KEY)
    with httpx.Client(timeout=10) as first, first.stream("GET", url) as streaming:
        assert streaming.status_code == 200  # nginx is still sending: the connection counts
        second = httpx.get(url, timeout=10)
        assert second.status_code == 429
        # A peer's fill is not a subscriber: not limited.
        assert httpx.head(one_connection.fill_url(KEY), timeout=10).status_code == 200
    # Once the first is done, the client plays again.
    assert httpx.head(url, timeout=10).status_code == 200


def test_requests_over_the_rate_and_burst_get_429(two_per_second: RunningAppliance) -> None:
    put_object(two_per_second.settings, KEY, b"x" * 1000)
    url = two_per_second.url(KEY)
    with httpx.Client(timeout=10) as client:
        codes = [client.get(url).status_code for _ in range(6)]
    assert codes[:2] == [200, 200] and 429 in codes[2:], codes


def test_limits_off_render_no_limit_directive(tmp_path: Path) -> None:
    settings = appliance_settings(
        tmp_path, client_limits={"max_connections": 0, "requests_per_second": 0}
    )
    with contextmanager(run_appliance)(settings) as running:
        config = settings.current_config.read_text()
        assert "limit_conn" not in config and "limit_req" not in config
        put_object(settings, KEY, b"y" * 10)
        assert httpx.get(running.url(KEY), timeout=5).status_code == 200
