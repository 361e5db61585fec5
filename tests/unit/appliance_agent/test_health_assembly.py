"""The daemon's start-up: a config left pending by a dead agent is loaded; a failure to load
it is logged and never stops the agent."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from appliance_agent.health import assembly
from appliance_agent.serve.errors import NginxControlError
from appliance_agent.serve.settings import ServeSettings


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
