"""`Nginx.start` waits for a running master with workers, and says which part never came.

The binary is a small shell script standing in for nginx's daemon mode: it forks a "master"
that writes the pid file and, when asked, forks a child ("worker") of its own, then exits 0.
"""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import appliance_agent.serve.nginx as nginx_module
from appliance_agent.serve.errors import NginxControlError
from appliance_agent.serve.nginx import Nginx

# $MODE: "workers" (master forks a child), "bare" (master forks none), "no-pid", "fail".
_FAKE_NGINX = """\
#!/bin/sh
case "$FAKE_NGINX_MODE" in
  fail) echo "bind() to 127.0.0.1:80 failed (98: Address already in use)" >&2; exit 1 ;;
  no-pid) exit 0 ;;
  bare) setsid sh -c 'echo $$ > "$FAKE_NGINX_PID"; exec sleep 30' >/dev/null 2>&1 & ;;
  workers) setsid sh -c 'echo $$ > "$FAKE_NGINX_PID"; sleep 30 & wait' >/dev/null 2>&1 & ;;
esac
exit 0
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Nginx]:
    binary = tmp_path / "nginx"
    binary.write_text(_FAKE_NGINX)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    pid_file = tmp_path / "run" / "nginx.pid"
    monkeypatch.setenv("FAKE_NGINX_PID", str(pid_file))
    monkeypatch.setattr(nginx_module, "_START_WAIT_S", 1.0)
    controller = Nginx(binary=binary, runtime_dir=tmp_path / "run", pid_file=pid_file)
    yield controller
    pid = controller.master_pid()
    if pid is not None:  # the fake master and its child run in their own session
        os.killpg(pid, signal.SIGKILL)


def test_returns_the_master_once_it_has_forked_a_worker(
    fake: Nginx, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_NGINX_MODE", "workers")
    pid = fake.start(Path("/etc/nginx/nginx.conf"))
    assert pid == fake.master_pid()
    assert fake.worker_pids()


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("fail", r"failed to start.*Address already in use.*ports are free"),
        ("no-pid", r"wrote no pid"),
        ("bare", r"master \d+ started no worker"),
    ],
)
def test_a_start_that_does_not_come_up_says_which_part_is_missing(
    fake: Nginx, monkeypatch: pytest.MonkeyPatch, mode: str, message: str
) -> None:
    monkeypatch.setenv("FAKE_NGINX_MODE", mode)
    with pytest.raises(NginxControlError, match=message):
        fake.start(Path("/etc/nginx/nginx.conf"))


def test_refuses_to_start_a_second_master(fake: Nginx, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_NGINX_MODE", "workers")
    fake.start(Path("/etc/nginx/nginx.conf"))
    with pytest.raises(NginxControlError, match="already runs"):
        fake.start(Path("/etc/nginx/nginx.conf"))


def test_a_master_of_another_user_counts_as_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On an appliance the master is root's: signal 0 from the agent's user gets EPERM, which
    says the process exists (only ESRCH says it does not)."""
    pid_file = tmp_path / "nginx.pid"
    pid_file.write_text(f"{os.getpid()}\n")

    def not_permitted(pid: int, sig: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "kill", not_permitted)
    controller = Nginx(binary=Path("/usr/sbin/nginx"), runtime_dir=tmp_path, pid_file=pid_file)
    assert controller.master_pid() == os.getpid()
