"""A plain nginx serving one directory on loopback: an origin, a peer or a benchmark baseline.

One minimal config (sendfile, tcp_nopush, nothing else beyond nginx's defaults) and one context
manager, `static_nginx`, for the three places that need a plain static server:

- the agent-fill tests and `bench fill` use it as an origin or a peer and read its access log,
  one `LoggedRequest` per request (URI, status, body bytes sent, Range header), to measure
  exactly what crossed the wire;
- the agent-serve miss tests use it as the origin behind the appliance's proxy_cache;
- `bench edge-serve` uses it, with the access log off and an HTTPS listener on the appliance's
  certificate, as the baseline the appliance config is measured against, and reads its workers'
  CPU through `StaticNginx.nginx`. Keep the template minimal: every directive added here costs
  that baseline something, and changes what its numbers mean.

nginx is started and stopped by the agent's own controller (`appliance_agent.serve.nginx.Nginx`):
as a daemon with a pid file under the prefix, stopped fast (SIGTERM, no waiting for slow clients).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from appliance_agent.serve.errors import NginxControlError
from appliance_agent.serve.nginx import Nginx
from lab.errors import LabError
from lab.processes import free_port

_CONFIG = """\
user root;
worker_processes {workers};
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    sendfile on;
    tcp_nopush on;
{access_log}{tls}    server {{
        listen 127.0.0.1:{port};
{https_listen}        root {root};
{limit_rate}    }}
}}
"""

# One request per line: URI, status, body bytes sent, Range header ("-" if none).
_ACCESS_LOG = """\
    log_format transfer '$request_uri $status $body_bytes_sent "$http_range"';
    access_log {path} transfer;
"""


@dataclass(frozen=True)
class LoggedRequest:
    uri: str
    status: int
    body_bytes: int
    range_header: str


@dataclass(frozen=True)
class StaticNginx:
    """A running static nginx: where it serves from, its ports, and its access log."""

    root: Path
    prefix: Path
    port: int
    https_port: int | None
    master_pid: int
    nginx: Nginx  # the controller; `nginx.worker_pids()` for CPU accounting
    access_log: Path | None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def https_base_url(self) -> str:
        if self.https_port is None:
            raise LabError("this static nginx has no HTTPS listener: start it with tls=(cert, key)")
        return f"https://127.0.0.1:{self.https_port}"

    def url(self, key: str) -> str:
        return f"{self.base_url}/{key}"

    def requests(self) -> list[LoggedRequest]:
        """Every request logged so far (nginx writes the line when the response ends)."""
        if self.access_log is None:
            raise LabError("this static nginx logs no requests: start it with access_log=True")
        if not self.access_log.exists():
            return []
        return [_parse(line) for line in self.access_log.read_text().splitlines()]


def render_config(
    *,
    root: Path,
    prefix: Path,
    port: int,
    https_port: int | None = None,
    tls: tuple[Path, Path] | None = None,
    access_log: bool = True,
    limit_rate: str | None = None,
    workers: int = 1,
) -> str:
    """nginx.conf for a static server of `root`, everything it writes under `prefix`."""
    if (https_port is None) != (tls is None):
        raise ValueError("an HTTPS port needs tls=(certificate, key), and the other way round")
    return _CONFIG.format(
        workers=workers,
        prefix=prefix,
        port=port,
        root=root,
        access_log=(
            _ACCESS_LOG.format(path=prefix / "access.log")
            if access_log
            else "    access_log off;\n"
        ),
        tls=(f"    ssl_certificate {tls[0]};\n    ssl_certificate_key {tls[1]};\n" if tls else ""),
        https_listen=f"        listen 127.0.0.1:{https_port} ssl;\n" if https_port else "",
        limit_rate=f"        limit_rate {limit_rate};\n" if limit_rate else "",
    )


@contextmanager
def static_nginx(
    root: Path,
    prefix: Path,
    *,
    access_log: bool = True,
    tls: tuple[Path, Path] | None = None,
    limit_rate: str | None = None,
    workers: int = 1,
    binary: Path | None = None,
) -> Iterator[StaticNginx]:
    """Serve `root` at `http://127.0.0.1:<port>/` (and over HTTPS with `tls=(cert, key)`).

    Config, pid file, logs and temp dirs live under `prefix`. `limit_rate` is nginx's per-response
    rate (for example "100k"); `binary` defaults to the `nginx` on PATH, else /usr/sbin/nginx.
    nginx is always stopped on exit, without waiting for slow clients.
    """
    root, prefix = root.absolute(), prefix.absolute()
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    port = free_port()
    https_port = free_port() if tls else None
    config = prefix / "nginx.conf"
    config.write_text(
        render_config(
            root=root,
            prefix=prefix,
            port=port,
            https_port=https_port,
            tls=tls,
            access_log=access_log,
            limit_rate=limit_rate,
            workers=workers,
        )
    )
    nginx = Nginx(
        binary=binary or Path(shutil.which("nginx") or "/usr/sbin/nginx"),
        runtime_dir=prefix,
        pid_file=prefix / "nginx.pid",
    )
    try:
        try:
            master_pid = nginx.start(config)
        except NginxControlError as exc:
            raise LabError(
                f"static nginx for {root} did not start: {exc}; its config is {config}"
            ) from exc
        yield StaticNginx(
            root=root,
            prefix=prefix,
            port=port,
            https_port=https_port,
            master_pid=master_pid,
            nginx=nginx,
            access_log=prefix / "access.log" if access_log else None,
        )
    finally:
        nginx.stop(graceful=False)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A P-256 certificate for 127.0.0.1, valid two days, made by openssl in `directory` (0700);
    returns (certificate, key) paths for `static_nginx(tls=...)`."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def _parse(line: str) -> LoggedRequest:
    uri, status, sent, range_header = line.split(" ", 3)
    return LoggedRequest(uri, int(status), int(sent), range_header.strip('"'))
