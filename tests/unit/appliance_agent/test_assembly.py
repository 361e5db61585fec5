"""The daemon's start-up: a config left pending by a dead agent is loaded; a failure to load
it is logged and never stops the agent. Only the daemon's heartbeat owns the served ledger."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from appliance_agent import assembly
from appliance_agent.config import AgentConfig
from appliance_agent.fleet_client import FleetClient
from appliance_agent.health.served_ledger import LEDGER_FILE_NAME
from appliance_agent.serve.errors import NginxControlError
from appliance_agent.serve.settings import ServeSettings
from tests.unit.appliance_agent.access_log_lines import append, nginx_line


class PendingInstaller:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.calls = 0

    def reload_pending(self) -> object:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return None


def _settings(tmp_path: Path) -> ServeSettings:
    return ServeSettings(config_root=tmp_path / "nginx", store_dir=tmp_path / "store")


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (NginxControlError("nginx did not start new workers"), "could not load the pending"),
        (PermissionError(13, "Permission denied"), "could not check for a pending"),
    ],
)
def test_a_failed_pending_reload_is_logged_and_the_start_goes_on(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    logged: str,
) -> None:
    installer = PendingInstaller(error)
    monkeypatch.setattr(assembly, "installer_for", lambda _settings: installer)
    with caplog.at_level(logging.ERROR, logger=assembly.__name__):
        assembly.reload_pending_config(_settings(tmp_path))
    assert installer.calls == 1
    assert logged in caplog.text


def test_nothing_installed_yet_is_not_an_error(tmp_path: Path) -> None:
    # The real installer on an empty config root: no `current`, nothing to load.
    assembly.reload_pending_config(_settings(tmp_path))
    assert not (tmp_path / "nginx" / "current").exists()


def test_only_the_daemon_heartbeat_counts_served_bytes_and_it_resumes(tmp_path: Path) -> None:
    serve = _settings(tmp_path).model_copy(
        update={"log_dir": tmp_path / "log", "https_port": None, "http_port": 8080}
    )
    config = AgentConfig(
        control_plane_url="http://fleet.test",
        appliance_id="ap-1",
        store_path=tmp_path / "store",
        state_dir=tmp_path / "state",
        byte_budget=1 << 30,
        serve=serve,
        health={"served_report_interval_s": 60},
    )
    log, ledger_file = serve.access_log, tmp_path / "state" / LEDGER_FILE_NAME
    log.parent.mkdir()
    log.write_text(nginx_line("t1/720p/before.ts", 999))
    transport = httpx.MockTransport(lambda _request: httpx.Response(500))
    with FleetClient(
        base_url="http://fleet.test", credential=None, timeout_s=1, transport=transport
    ) as client:
        one_shot = assembly.heartbeat_task(config, client=client)
        registry = CollectorRegistry()
        daemon = assembly.heartbeat_task(
            config, client=client, registry=registry, report_served=True
        )
        append(log, nginx_line("t1/720p/a.ts", 100))
        one_shot.monitor.tally.refresh()
        assert one_shot.served is None and not ledger_file.exists()
        daemon.monitor.tally.refresh()
        assert daemon.served is not None and daemon.served.interval_s == 60
        assert json.loads(ledger_file.read_text())["open"] == {"t1/720p": 100}
        assert registry.get_sample_value("edgefill_served_open_bytes") == 100

        append(log, nginx_line("t1/720p/a.ts", 7))  # logged while the daemon restarts
        restarted = assembly.heartbeat_task(config, client=client, report_served=True)
        restarted.monitor.tally.refresh()
        assert json.loads(ledger_file.read_text())["open"] == {"t1/720p": 107}
