"""A plain nginx serving one directory on loopback: a peer or an origin for fill tests and bench.

Its access log records, per request, the URI, status, body bytes sent and the Range header, so
a test can measure exactly what crossed the wire.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

_CONFIG = """\
user root;
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format transfer '$request_uri $status $body_bytes_sent "$http_range"';
    access_log {prefix}/access.log transfer;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    types {{ application/octet-stream bin; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 10000;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        {limit_rate}
        location / {{ }}
    }}
}}
"""


@dataclass(frozen=True)
class LoggedRequest:
    uri: str
    status: int
    body_bytes: int
    range_header: str


@dataclass(frozen=True)
class StaticNginx:
    root: Path
    prefix: Path
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, key: str) -> str:
        return f"{self.base_url}/{key}"

    def requests(self) -> list[LoggedRequest]:
        """Every request logged so far (nginx writes the line when the response ends)."""
        log = self.prefix / "access.log"
        if not log.exists():
            return []
        entries = []
        for line in log.read_text().splitlines():
            uri, status, sent, range_header = line.split(" ", 3)
            entries.append(LoggedRequest(uri, int(status), int(sent), range_header.strip('"')))
        return entries

    def bytes_sent(self) -> int:
        return sum(entry.body_bytes for entry in self.requests())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def static_nginx(
    root: Path, prefix: Path, *, limit_rate: str | None = None, workers: int = 1
) -> Iterator[StaticNginx]:
    """Start nginx in the foreground (own process group) and always stop it afterwards."""
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = prefix / "nginx.conf"
    config.write_text(
        _CONFIG.format(
            prefix=prefix,
            port=port,
            root=root,
            workers=workers,
            limit_rate=f"limit_rate {limit_rate};" if limit_rate else "",
        )
    )
    process = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(config), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_port(port, process)
        yield StaticNginx(root=root, prefix=prefix, port=port)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # fast shutdown: do not wait for slow clients
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"nginx exited with {process.returncode}: {stderr}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nginx did not listen on 127.0.0.1:{port} within {timeout_s} s")
