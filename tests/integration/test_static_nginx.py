"""lab.static_nginx: the plain nginx the fill tests, the miss tests and two benches stand up."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab.errors import LabError
from lab.static_nginx import LoggedRequest, render_config, self_signed_certificate, static_nginx

pytestmark = pytest.mark.nginx

# What `bench edge-serve` measures the appliance against: anything more changes its numbers.
BASELINE_DIRECTIVES = [
    "user", "worker_processes", "error_log", "events", "worker_connections", "http",
    "client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path",
    "scgi_temp_path", "sendfile", "tcp_nopush", "access_log", "ssl_certificate",
    "ssl_certificate_key", "server", "listen", "listen", "root",
]  # fmt: skip


def _directives(config: str) -> list[str]:
    return re.findall(r"(?:^|[{;])\s*([a-z_]+)\b", config, re.MULTILINE)


def test_the_benchmark_baseline_config_stays_minimal() -> None:
    config = render_config(
        root=Path("/srv/objects"),
        prefix=Path("/run/plain"),
        port=8080,
        https_port=8443,
        tls=(Path("/tls/cert.pem"), Path("/tls/key.pem")),
        access_log=False,
    )
    assert _directives(config) == BASELINE_DIRECTIVES
    assert "access_log off;" in config
    assert "listen 127.0.0.1:8443 ssl;" in config


@pytest.mark.parametrize(
    ("options", "present", "absent"),
    [
        ({}, ["log_format transfer", "access_log /run/o/access.log transfer;"], ["ssl", "limit_rate"]),
        ({"limit_rate": "100k", "workers": 2}, ["limit_rate 100k;", "worker_processes 2;"], ["ssl"]),
    ],
)  # fmt: skip
def test_options_render_into_the_config(
    options: dict[str, Any], present: list[str], absent: list[str]
) -> None:
    config = render_config(root=Path("/srv/o"), prefix=Path("/run/o"), port=8080, **options)
    assert all(text in config for text in present)
    assert not any(text in config for text in absent)


def test_an_https_port_without_a_certificate_is_refused() -> None:
    with pytest.raises(ValueError, match="tls"):
        render_config(root=Path("/srv/o"), prefix=Path("/run/o"), port=8080, https_port=8443)


def test_serves_http_and_https_and_logs_each_request(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    data = os.urandom(10_000)
    (root / "a" / "seg.ts").write_bytes(data)
    tls = self_signed_certificate(tmp_path / "tls")
    with static_nginx(root, tmp_path / "nginx", tls=tls) as server:
        assert server.master_pid == server.nginx.master_pid()
        assert server.nginx.worker_pids()
        whole = httpx.get(server.url("a/seg.ts"), timeout=5)
        ranged = httpx.get(server.url("a/seg.ts"), headers={"Range": "bytes=100-199"}, timeout=5)
        secure = httpx.get(f"{server.https_base_url}/a/seg.ts", verify=False, timeout=5)
        missing = httpx.get(server.url("nope"), timeout=5)
        assert (whole.content, ranged.content, secure.content) == (data, data[100:200], data)
        assert missing.status_code == 404
    # Stopped on exit; the log is complete once nginx has stopped.
    assert server.nginx.master_pid() is None
    logged = server.requests()
    assert logged[:3] == [
        LoggedRequest("/a/seg.ts", 200, len(data), "-"),
        LoggedRequest("/a/seg.ts", 206, 100, "bytes=100-199"),
        LoggedRequest("/a/seg.ts", 200, len(data), "-"),
    ]
    assert (logged[3].uri, logged[3].status) == ("/nope", 404)


def test_without_an_access_log_or_tls_those_parts_say_so(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with static_nginx(root, tmp_path / "nginx", access_log=False) as server:
        assert httpx.get(server.url("x"), timeout=5).status_code == 404
        with pytest.raises(LabError, match="access_log=True"):
            server.requests()
        with pytest.raises(LabError, match="tls="):
            _ = server.https_base_url
    assert not (tmp_path / "nginx" / "access.log").exists()


def test_a_config_nginx_refuses_is_a_lab_error_naming_the_config(tmp_path: Path) -> None:
    missing = tmp_path / "no-such"
    with (
        pytest.raises(LabError, match=r"did not start.*nginx\.conf"),
        static_nginx(tmp_path, tmp_path / "nginx", tls=(missing / "cert", missing / "key")),
    ):
        pass  # pragma: no cover
