"""A plain nginx on loopback standing in for the origin (ranges work, as S3's do)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from appliance_agent.serve.nginx import Nginx
from tests.integration.agent_serve.appliance_nginx import free_port

_CONFIG = """\
user root;
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    log_format origin '$request_uri $status $http_range';
    access_log {run}/access.log origin;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


@dataclass
class Origin:
    root: Path
    port: int
    access_log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/content/"

    def requests(self) -> list[str]:
        if not self.access_log.exists():
            return []
        return self.access_log.read_text().splitlines()


def run_origin(base: Path) -> Iterator[Origin]:
    run, root = base / "run", base / "root"
    run.mkdir(parents=True)
    (root / "content").mkdir(parents=True)
    port = free_port()
    conf = base / "nginx.conf"
    conf.write_text(_CONFIG.format(run=run, port=port, root=root))
    nginx = Nginx(binary=Path("/usr/sbin/nginx"), runtime_dir=run, pid_file=run / "nginx.pid")
    nginx.start(conf)
    try:
        yield Origin(root=root / "content", port=port, access_log=run / "access.log")
    finally:
        nginx.stop(graceful=False)
