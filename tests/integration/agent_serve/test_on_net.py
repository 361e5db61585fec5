"""On-net only against a real nginx: playback (/t/) only to the configured client prefixes,
403 to any other address before its URL is checked; peer fills (/f/) stay signed-only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from appliance_agent.serve.settings import OnNet
from tests.integration.agent_serve.appliance_nginx import (
    RunningAppliance,
    appliance_settings,
    put_object,
    run_appliance,
)

pytestmark = pytest.mark.nginx

KEY = "title-1/720p/media.mp4"


def running(tmp_path: Path, prefixes: list[str]) -> Iterator[RunningAppliance]:
    settings = appliance_settings(tmp_path, on_net={"enabled": True, "client_prefixes": prefixes})
    yield from run_appliance(settings)


@pytest.fixture
def off_net(tmp_path: Path) -> Iterator[RunningAppliance]:
    """The test client (127.0.0.1) is not among the site's prefixes."""
    yield from running(tmp_path, ["192.0.2.0/24", "2001:db8::/32"])


@pytest.fixture
def on_net(tmp_path: Path) -> Iterator[RunningAppliance]:
    yield from running(tmp_path, ["192.0.2.0/24", "127.0.0.0/8"])


def test_a_client_outside_the_sites_prefixes_gets_403(off_net: RunningAppliance) -> None:
    put_object(off_net.settings, KEY, b"x" * 100)
    assert httpx.get(off_net.url(KEY), timeout=5).status_code == 403
    # Not even a bad URL is looked at: the address decides first.
    bad = off_net.url(KEY).replace("/title-1/", "/title-2/")
    assert httpx.get(bad, timeout=5).status_code == 403
    # A peer's fill is not a subscriber's play: signed-only.
    assert httpx.get(off_net.fill_url(KEY), timeout=5).status_code == 200


def test_a_client_inside_them_plays_and_the_url_still_counts(on_net: RunningAppliance) -> None:
    put_object(on_net.settings, KEY, b"y" * 100)
    assert httpx.get(on_net.url(KEY), timeout=5).content == b"y" * 100
    wrong = on_net.url(KEY).replace("/title-1/", "/title-2/")
    assert httpx.get(wrong, timeout=5).status_code == 403


def test_off_by_default_renders_no_geo_and_serves_anyone(tmp_path: Path) -> None:
    settings = appliance_settings(tmp_path)
    assert not settings.on_net.enabled
    with contextmanager(run_appliance)(settings) as appliance:
        assert "edgefill_on_net" not in settings.current_config.read_text()
        put_object(settings, KEY, b"z" * 10)
        assert httpx.get(appliance.url(KEY), timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"enabled": True}, "refuse every subscriber"),
        ({"enabled": True, "client_prefixes": ["192.0.2.1/24"]}, "host bits"),
        ({"client_prefixes": ["nonsense"]}, "not a network prefix"),
    ],
)
def test_bad_on_net_settings_are_refused(value: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        OnNet.model_validate(value)
