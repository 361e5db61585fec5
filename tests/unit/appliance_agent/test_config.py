"""Agent config: one TOML file, env overrides single values, clear errors for bad values."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from appliance_agent.config import (
    DEFAULT_MAX_FILL_RATE,
    AgentConfig,
    PeerPolicy,
    load_config,
    resolve_config_path,
)
from appliance_agent.errors import ConfigError

MINIMAL = """
control_plane_url = "https://fleet.example.net"
appliance_id = "ams-1-a"
byte_budget = 1000000

[fill_window]
start = "01:30"
end = "07:00"
timezone = "Europe/Amsterdam"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(MINIMAL)
    return path


def test_a_minimal_file_gets_the_documented_defaults(config_file: Path) -> None:
    config = load_config(config_file)
    assert config.appliance_id == "ams-1-a"
    assert config.fill_window.start == time(1, 30)
    assert config.fill_window.timezone == "Europe/Amsterdam"
    assert config.max_fill_rate == DEFAULT_MAX_FILL_RATE == 150_000_000  # 1.2 Gbit/s
    assert config.peer_policy is PeerPolicy.MANIFEST_ORDER
    assert config.store_path == Path("/srv/edgefill/store")


def test_environment_overrides_single_values_including_nested_ones(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEFILL_AGENT_CONCURRENCY", "3")
    monkeypatch.setenv("EDGEFILL_AGENT_FILL_WINDOW__START", "03:00")
    monkeypatch.setenv("EDGEFILL_AGENT_PEER_POLICY", "origin-only")
    config = load_config(config_file)
    assert config.concurrency == 3
    assert config.fill_window.start == time(3, 0)
    assert config.fill_window.end == time(7, 0)  # the rest of the table stays the file's
    assert config.peer_policy is PeerPolicy.ORIGIN_ONLY


def test_the_path_comes_from_the_flag_then_the_environment_then_etc(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("EDGEFILL_AGENT_CONFIG", raising=False)
    assert resolve_config_path(None) == Path("/etc/edgefill/agent.toml")
    monkeypatch.setenv("EDGEFILL_AGENT_CONFIG", str(tmp_path / "env.toml"))
    assert resolve_config_path(None) == tmp_path / "env.toml"
    assert resolve_config_path(tmp_path / "flag.toml") == tmp_path / "flag.toml"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("concurrency = 0", "concurrency (env EDGEFILL_AGENT_CONCURRENCY)"),
        ("max_fill_rate = -1", "max_fill_rate (env EDGEFILL_AGENT_MAX_FILL_RATE)"),
        ('peer_policy = "random"', "peer_policy"),
        ("free_space_floor = -5", "free_space_floor"),
        ("unknown_knob = 1", "unknown_knob"),
    ],
)
def test_bad_values_name_the_field_and_its_env_variable(
    tmp_path: Path, extra: str, expected: str
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(extra + "\n" + MINIMAL)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ('start = "02:00"\nend = "02:00"\ntimezone = "UTC"', "window would be empty"),
        ('start = "02:00"\nend = "04:00"\ntimezone = "Mars/Olympus"', "unknown time zone"),
    ],
)
def test_a_bad_fill_window_is_explained(tmp_path: Path, window: str, expected: str) -> None:
    path = tmp_path / "agent.toml"
    head = MINIMAL.split("[fill_window]")[0]
    path.write_text(f"{head}[fill_window]\n{window}\n")
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_a_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="EDGEFILL_AGENT_CONFIG"):
        load_config(tmp_path / "nope.toml")


def test_a_file_that_is_not_toml_is_reported_as_such(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_a_missing_required_value_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('control_plane_url = "https://fleet.example.net"\nbyte_budget = 1\n')
    with pytest.raises(ConfigError, match="appliance_id"):
        load_config(path)


def test_the_config_is_immutable(config_file: Path) -> None:
    config = load_config(config_file)
    with pytest.raises(ValueError):
        config.concurrency = 2  # type: ignore[misc]
    assert isinstance(config, AgentConfig)


@pytest.mark.parametrize("bad_id", ["AMS-1", "ams_1", "-ams", "a" * 64, "ams.1"])
def test_an_id_the_fleet_would_refuse_is_refused_at_start(tmp_path: Path, bad_id: str) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        f'control_plane_url = "https://fleet.example.net"\nbyte_budget = 1\nappliance_id = "{bad_id}"\n'
    )
    with pytest.raises(ConfigError, match="appliance_id"):
        load_config(path)
