"""A reload asked for through a request file, as an agent that cannot signal a root master does.

On an appliance, systemd's edgefill-nginx-reload.path sees the file change and runs
`systemctl reload nginx`; here a thread stands in for it (it sees the change, sends SIGHUP), so
the agent's side runs against a real nginx: the request, the confirmation by new workers, a
request asked again when the first was missed, and a clear error when nobody answers.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from appliance_agent.serve.apply import nginx_for
from appliance_agent.serve.errors import ReloadFailed
from tests.integration.agent_serve.appliance_nginx import RunningAppliance, put_object

pytestmark = pytest.mark.nginx

KEY = "title-1/720p/seg_0001.ts"


class PathUnitStandIn:
    """Watches the request file; on each change, SIGHUPs the master (after `miss_first` misses)."""

    def __init__(self, request_file: Path, pid_file: Path, *, miss_first: int = 0) -> None:
        self.request_file = request_file
        self.pid_file = pid_file
        self.miss_first = miss_first
        self.seen = 0
        self.reloads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _stamp(self) -> int | None:
        try:
            return self.request_file.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def _watch(self) -> None:
        last = self._stamp()
        while not self._stop.wait(0.01):
            stamp = self._stamp()
            if stamp is None or stamp == last:
                continue
            last = stamp
            self.seen += 1
            if self.seen <= self.miss_first:
                continue
            os.kill(int(self.pid_file.read_text()), signal.SIGHUP)
            self.reloads += 1

    def __enter__(self) -> PathUnitStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@pytest.fixture
def requesting(appliance: RunningAppliance, tmp_path: Path) -> Iterator[RunningAppliance]:
    """The same nginx, driven by an agent whose settings name a reload request file."""
    settings = appliance.settings.model_copy(
        update={"reload_request_file": tmp_path / "reload" / "request"}
    )
    yield RunningAppliance(
        settings=settings, nginx=appliance.nginx, first_install=appliance.first_install
    )


def test_an_install_reloads_through_the_request_file(requesting: RunningAppliance) -> None:
    settings = requesting.settings
    assert settings.reload_request_file is not None
    put_object(settings, KEY, b"x" * 1000)
    master = requesting.nginx.master_pid()
    before = requesting.nginx.worker_pids()
    with PathUnitStandIn(settings.reload_request_file, settings.pid_file) as unit:
        result = requesting.install()
    assert result.reloaded
    assert unit.reloads == 1
    assert requesting.nginx.master_pid() == master
    assert requesting.nginx.worker_pids() - before, "no new workers: the reload never happened"
    assert httpx.get(requesting.url(KEY), timeout=5).status_code == 200
    # The agent's own check used its pid file, not the running master's.
    assert settings.check_pid_file.exists()
    assert int(settings.pid_file.read_text()) == master


def test_a_missed_request_is_asked_again(requesting: RunningAppliance) -> None:
    settings = requesting.settings
    assert settings.reload_request_file is not None
    with PathUnitStandIn(settings.reload_request_file, settings.pid_file, miss_first=1) as unit:
        nginx_for(settings).reload(confirm_timeout_s=10)
    assert unit.seen >= 2
    assert unit.reloads == 1


def test_nobody_answering_the_request_is_a_clear_error_and_rolls_back(
    requesting: RunningAppliance,
) -> None:
    settings = requesting.settings
    live = (settings.config_root / "current").resolve()
    with pytest.raises(ReloadFailed) as failure:
        requesting.install()
    message = str(failure.value)
    assert str(settings.reload_request_file) in message
    assert "edgefill-nginx-reload.path" in message
    assert (settings.config_root / "current").resolve() == live, "current was not put back"
