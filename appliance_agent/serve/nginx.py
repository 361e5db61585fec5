"""Drive the nginx binary: check a config tree, start, reload gracefully, stop.

nginx runs as `nginx -p <runtime_dir>/ -c <config_root>/current/nginx.conf -g "pid <pid>;"`;
the `current` symlink is what install.py swaps, so a reload makes the master re-read the new
tree while old workers finish their requests within `worker_shutdown_timeout`.

The pid file is named on the command line, never in the rendered tree: on an appliance the
master runs as root and its pid file is root's, so the agent checks a tree (`nginx -t`, which
opens the pid file) with a pid file of its own. For the same reason the agent cannot signal
the master there: with `reload_request_file` set, a reload writes that file and a systemd path
unit runs `systemctl reload nginx` (nginx -t as root, then SIGHUP); without it (nginx run by
the agent's own user, as in tests and benchmarks) the agent sends SIGHUP itself. Either way
the reload is confirmed the same way: new workers appear and the old ones stop accepting.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from appliance_agent.atomic_file import write_atomically
from appliance_agent.serve.errors import NginxConfigInvalid, NginxControlError

logger = logging.getLogger(__name__)

NGINX_TEST_TIMEOUT_S = 30.0
_START_WAIT_S = 10.0
# A reload request the path unit missed (one that lands while the last reload still runs) is
# written again this often until the reload is confirmed or times out.
_REQUEST_AGAIN_S = 2.0


class Nginx:
    """One nginx instance: its binary, its prefix (runtime dir) and its pid file.

    `check_pid_file` is the pid file `nginx -t` opens (default: `pid_file`); it must be
    writable by whoever checks. `reload_request_file`, if set, is how a reload is asked for
    (see the module docstring).
    """

    def __init__(
        self,
        *,
        binary: Path,
        runtime_dir: Path,
        pid_file: Path,
        check_pid_file: Path | None = None,
        reload_request_file: Path | None = None,
    ) -> None:
        self.binary = binary
        self.runtime_dir = runtime_dir
        self.pid_file = pid_file
        self.check_pid_file = check_pid_file or pid_file
        self.reload_request_file = reload_request_file

    def _base_command(self, config: Path, *, pid_file: Path) -> list[str]:
        return [
            str(self.binary),
            "-p",
            f"{self.runtime_dir}/",
            "-c",
            str(config),
            "-g",
            f"pid {pid_file};",
        ]

    def test(self, config: Path) -> None:
        """`nginx -t` on a whole tree; raise NginxConfigInvalid with nginx's output if refused."""
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        try:
            # bandit B603: argv from settings, no shell.
            proc = subprocess.run(  # nosec B603
                [*self._base_command(config, pid_file=self.check_pid_file), "-t", "-q"],
                capture_output=True,
                text=True,
                timeout=NGINX_TEST_TIMEOUT_S,
                check=False,
            )
        except FileNotFoundError as exc:
            raise NginxControlError(
                f"nginx binary {self.binary} not found; install nginx or set serve.nginx_binary"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise NginxConfigInvalid(
                f"nginx -t on {config} did not finish in {NGINX_TEST_TIMEOUT_S:.0f} s",
                output="",
            ) from exc
        if proc.returncode != 0:
            output = (proc.stderr or proc.stdout).strip()
            raise NginxConfigInvalid(
                f"nginx -t refused {config}: {output or 'no output'}; the live config was left "
                "as it was, fix the template or settings and render again",
                output=output,
            )

    def master_pid(self) -> int | None:
        """The running master's pid, or None if the pid file is absent or stale."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # it runs, as another user: a root master, signalled through systemd
        return pid

    def start(self, config: Path) -> int:
        """Start nginx as a daemon; return the master pid once it runs and has forked its workers."""
        if self.master_pid() is not None:
            raise NginxControlError(f"nginx already runs with pid file {self.pid_file}")
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        # bandit B603: argv from settings, no shell.
        proc = subprocess.run(  # nosec B603
            self._base_command(config, pid_file=self.pid_file),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if proc.returncode != 0:
            raise NginxControlError(
                f"nginx failed to start with {config}: {proc.stderr.strip()}; check the error "
                "log and that the ports are free"
            )
        # The daemonised master writes its pid file before it forks its workers: wait for both,
        # so a caller that reads `worker_pids()` (CPU accounting) sees the workers.
        deadline = time.monotonic() + _START_WAIT_S
        pid: int | None = None
        while time.monotonic() < deadline:
            pid = self.master_pid()
            if pid is not None and self.worker_pids():
                logger.info("nginx started, master pid %d", pid)
                return pid
            time.sleep(0.02)
        if pid is None:
            raise NginxControlError(f"nginx started but wrote no pid to {self.pid_file}")
        raise NginxControlError(
            f"nginx master {pid} started no worker in {_START_WAIT_S:.0f} s; see its error log"
        )

    def worker_pids(self) -> frozenset[int]:
        """Pids of the master's children (workers, including old ones still shutting down)."""
        master = self.master_pid()
        if master is None:
            return frozenset()
        children: set[int] = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[-1].split()
            if int(fields[1]) == master and fields[0] != "Z":
                children.add(int(entry.name))
        return frozenset(children)

    def reload(self, *, confirm_timeout_s: float = 10.0) -> None:
        """Ask the master to reload and wait until new workers appear (it took the new config).

        Old workers finish their requests (up to worker_shutdown_timeout). If no new worker
        appears in `confirm_timeout_s`, the master refused the config (it logs why, for example
        a port it could not bind) and keeps the old one: raise NginxControlError.
        """
        pid = self.master_pid()
        if pid is None:
            raise NginxControlError(
                f"cannot reload nginx: no running master per {self.pid_file}; start nginx "
                "(systemctl start nginx) and render again"
            )
        before = self.worker_pids()
        self._ask_reload(pid)
        asked = time.monotonic()
        deadline = asked + confirm_timeout_s
        while time.monotonic() < deadline:
            now = self.worker_pids()
            # Done when new workers run and every old one has stopped accepting connections.
            if now - before and not any(_accepting(pid) for pid in now & before):
                return
            if self.reload_request_file is not None and time.monotonic() - asked > _REQUEST_AGAIN_S:
                self._ask_reload(pid)
                asked = time.monotonic()
            time.sleep(0.02)
        how = (
            f"the reload request ({self.reload_request_file}; is edgefill-nginx-reload.path "
            "active? `systemctl status edgefill-nginx-reload.path`)"
            if self.reload_request_file is not None
            else "the reload signal"
        )
        raise NginxControlError(
            f"nginx master {pid} started no new workers within {confirm_timeout_s:.0f} s of "
            f"{how}, so it kept its old config; see its error log (and `journalctl -u nginx`) "
            "for the reason"
        )

    def _ask_reload(self, pid: int) -> None:
        if self.reload_request_file is None:
            os.kill(pid, signal.SIGHUP)
            logger.info("sent SIGHUP to nginx master %d", pid)
            return
        # The content only makes each request a change the path unit sees; systemd reloads.
        write_atomically(
            self.reload_request_file, f"{time.time_ns()}\n", mode=0o644, parent_mode=0o755
        )
        logger.info("asked systemd to reload nginx master %d (%s)", pid, self.reload_request_file)

    def stop(self, *, graceful: bool = True, timeout_s: float = 15.0) -> None:
        """SIGQUIT (graceful) or SIGTERM, then wait for the master to exit; SIGKILL at the end."""
        pid = self.master_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGQUIT if graceful else signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.02)
        logger.warning("nginx master %d did not stop in %.0f s; killing it", pid, timeout_s)
        os.kill(pid, signal.SIGKILL)


def _accepting(pid: int) -> bool:
    """False once a worker is gone or titled "shutting down" (its listeners are closed)."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"shutting down" not in title


def _alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # Field 3, after the parenthesised command name, is the state letter.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
