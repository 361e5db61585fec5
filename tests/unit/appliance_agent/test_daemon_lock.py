"""One daemon per state directory: a second `run` refuses to start and says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance_agent.cli import EXIT_INCOMPLETE, main
from appliance_agent.daemon_lock import single_daemon
from appliance_agent.errors import DaemonAlreadyRunning


def test_a_second_daemon_on_the_same_state_dir_is_refused(tmp_path: Path) -> None:
    with (
        single_daemon(tmp_path),
        pytest.raises(DaemonAlreadyRunning, match="systemctl stop"),
        single_daemon(tmp_path),
    ):
        pass
    # Released on exit: the next daemon starts.
    with single_daemon(tmp_path):
        pass
    # Another state directory is another daemon.
    with single_daemon(tmp_path / "other"), single_daemon(tmp_path):
        pass


def test_run_exits_with_the_reason_while_a_daemon_holds_the_lock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    config = tmp_path / "agent.toml"
    config.write_text(
        'control_plane_url = "https://fleet.example.net"\n'
        'appliance_id = "ams-1-a"\n'
        "byte_budget = 1000000\n"
        f'state_dir = "{state}"\n'
        f'store_path = "{tmp_path / "store"}"\n'
    )
    with single_daemon(state):
        assert main(["--config", str(config), "run"]) == EXIT_INCOMPLETE
    assert "another appliance-agent daemon holds" in capsys.readouterr().err
