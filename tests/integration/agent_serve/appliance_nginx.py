"""A real appliance nginx on loopback, built by the agent's own render/install path, for tests."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from appliance_agent.serve.apply import nginx_for, render_and_install
from appliance_agent.serve.install import InstallResult
from appliance_agent.serve.nginx import Nginx
from appliance_agent.serve.settings import ServeSettings
from appliance_agent.serve.signing_secrets import SigningSecretStore
from edgefill_contracts import SigningSecret, SigningSecretSet, sign_path
from edgefill_contracts.signing import sign_fill_path

SECRET_ID = "k1"
SECRET = "test-secret-0123456789abcdef"
URL_LIFETIME_S = 3600  # within the edge's playback ceiling (ServeSettings)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def appliance_settings(root: Path, **overrides: Any) -> ServeSettings:
    """Settings for an nginx living entirely under `root`, on free loopback ports."""
    values: dict[str, Any] = {
        "nginx_user": "root",  # pytest's tmp dirs are 0700 root: workers must be root to read
        "config_root": root / "nginx",
        "runtime_dir": root / "run",
        "log_dir": root / "log",
        "store_dir": root / "store",
        "secrets_file": root / "state" / "signing-secrets.json",
        "client_prefixes_file": root / "state" / "client-prefixes.json",
        "listen_address": "127.0.0.1",
        "https_port": None,
        "http_port": free_port(),
        "status_port": free_port(),
        "worker_processes": 1,
        "worker_connections": 1024,
        "worker_rlimit_nofile": None,
        "worker_shutdown_timeout_s": 10,
        "reload_min_interval_s": 0,
        "drain": {"state_file": root / "state" / "drain.json"},
    }
    values.update(overrides)
    return ServeSettings.model_validate(values)


def store_secrets(settings: ServeSettings, *pairs: tuple[str, str]) -> None:
    secrets = [SigningSecret(secret_id=i, secret=SecretStr(s)) for i, s in pairs]
    SigningSecretStore(settings.secrets_file).save(SigningSecretSet(secrets=secrets))


def put_object(settings: ServeSettings, key: str, data: bytes) -> Path:
    path = settings.objects_dir / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@dataclass
class RunningAppliance:
    settings: ServeSettings
    nginx: Nginx
    first_install: InstallResult

    @property
    def base_url(self) -> str:
        if self.settings.https_port is not None:
            return f"https://127.0.0.1:{self.settings.https_port}"
        return f"http://127.0.0.1:{self.settings.http_port}"

    def url(
        self,
        key: str,
        *,
        expires: int | None = None,
        secret_id: str = SECRET_ID,
        secret: str = SECRET,
    ) -> str:
        if expires is None:
            expires = int(time.time()) + URL_LIFETIME_S
        return self.base_url + sign_path(
            secret_id=secret_id, secret=secret, key=key, expires=expires
        )

    def fill_url(self, key: str, *, expires: int | None = None) -> str:
        """A peer fill URL (/f/, a title's token), as manifests carry."""
        if expires is None:
            expires = int(time.time()) + URL_LIFETIME_S
        return self.base_url + sign_fill_path(
            secret_id=SECRET_ID, secret=SECRET, key=key, expires=expires
        )

    def install(self, settings: ServeSettings | None = None) -> InstallResult:
        return render_and_install(
            settings or self.settings, certificates=None, now=datetime.now(UTC)
        )


def run_appliance(settings: ServeSettings) -> Iterator[RunningAppliance]:
    """Install the rendered config and start nginx; always stop it afterwards."""
    if SigningSecretStore(settings.secrets_file).load() is None:
        store_secrets(settings, (SECRET_ID, SECRET))
    settings.objects_dir.mkdir(parents=True, exist_ok=True)
    result = render_and_install(settings, certificates=None, now=datetime.now(UTC))
    nginx = nginx_for(settings)
    nginx.start(settings.current_config)
    try:
        wait_for_port(settings.status_port)
        yield RunningAppliance(settings=settings, nginx=nginx, first_install=result)
    finally:
        nginx.stop(graceful=False)


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/stub_status", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing answered on 127.0.0.1:{port} within {timeout_s} s")
