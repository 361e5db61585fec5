"""On-net only against a real nginx: playback (/t/) only to the configured client prefixes,
403 to any other address before its URL is checked; peer fills (/f/) stay signed-only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from appliance_agent.serve.apply import refresh_client_prefixes, render_and_install
from appliance_agent.serve.client_prefixes import ClientPrefixStore
from appliance_agent.serve.errors import ClientPrefixesError, NginxConfigInvalid
from appliance_agent.serve.settings import OnNet
from edgefill_contracts.fleet_api import ClientPrefixes
from edgefill_contracts.prefixes import prefix_set_version
from tests.integration.agent_serve.appliance_nginx import (
    SECRET,
    SECRET_ID,
    RunningAppliance,
    appliance_settings,
    put_object,
    run_appliance,
    store_secrets,
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
        (
            {"enabled": True, "from_control_plane": True, "client_prefixes": ["192.0.2.0/24"]},
            "choose one",
        ),
    ],
)
def test_bad_on_net_settings_are_refused(value: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        OnNet.model_validate(value)


def _site(*prefixes: str) -> ClientPrefixes:
    return ClientPrefixes(
        site_id="ams-1", version=prefix_set_version(prefixes), prefixes=tuple(prefixes)
    )


@pytest.fixture
def from_control_plane(tmp_path: Path) -> Iterator[RunningAppliance]:
    """On-net from the control plane, its first set (with the test client) already fetched."""
    settings = appliance_settings(tmp_path, on_net={"enabled": True, "from_control_plane": True})
    ClientPrefixStore(settings.client_prefixes_file).save(_site("127.0.0.0/8"))
    yield from run_appliance(settings)


def test_the_sites_prefixes_from_the_control_plane_decide_who_plays(
    from_control_plane: RunningAppliance,
) -> None:
    appliance = from_control_plane
    settings = appliance.settings
    put_object(settings, KEY, b"p" * 100)
    assert httpx.get(appliance.url(KEY), timeout=5).status_code == 200

    # The site loses the test client's prefix: one refresh, and it gets 403.
    moved = _site("192.0.2.0/24", "2001:db8::/32")
    assert refresh_client_prefixes(
        settings, fetch=lambda: moved, certificates=None, now=datetime.now(UTC)
    )
    assert httpx.get(appliance.url(KEY), timeout=5).status_code == 403
    assert ClientPrefixStore(settings.client_prefixes_file).load() == moved
    # The same set again changes nothing (no render, no reload).
    assert not refresh_client_prefixes(
        settings, fetch=lambda: moved, certificates=None, now=datetime.now(UTC)
    )


def test_a_set_nginx_refuses_is_not_kept(
    from_control_plane: RunningAppliance, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = from_control_plane.settings
    before = ClientPrefixStore(settings.client_prefixes_file).load()

    def refusing(*args: object, **kwargs: object) -> None:
        raise NginxConfigInvalid("nginx -t refused the new tree", output="bad")

    monkeypatch.setattr("appliance_agent.serve.apply.render_and_install", refusing)
    with pytest.raises(NginxConfigInvalid):
        refresh_client_prefixes(
            settings, fetch=lambda: _site("192.0.2.0/24"), certificates=None, now=datetime.now(UTC)
        )
    assert ClientPrefixStore(settings.client_prefixes_file).load() == before


def test_on_net_from_the_control_plane_with_nothing_fetched_installs_nothing(
    tmp_path: Path,
) -> None:
    settings = appliance_settings(tmp_path, on_net={"enabled": True, "from_control_plane": True})
    store_secrets(settings, (SECRET_ID, SECRET))
    with pytest.raises(ClientPrefixesError, match="none are stored"):
        render_and_install(settings, certificates=None, now=datetime.now(UTC))
    assert not (settings.config_root / "current").exists(), "fails closed: nothing installed"
