"""Settings of the serving side: where nginx's config, store, logs and TLS files live, and how."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from edgefill_contracts.prefixes import NetworkPrefix

PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "templates"


def _zero_is_off(value: object) -> object:
    return None if value == 0 else value


# TOML has no null: 0 turns an optional port or limit off (None in Python).
ZeroIsOff = BeforeValidator(_zero_is_off)
# Goes into an nginx location regex: letters and digits only.
FileExtension = Annotated[str, Field(pattern=r"^[a-z0-9]{1,8}$")]


class MissMode(StrEnum):
    """What nginx does with a request for an object the store does not hold."""

    NOT_FOUND = "not-found"  # 404 at once: the player moves on to the next URL
    ORIGIN_FALLBACK = "origin-fallback"  # proxy_cache of the origin, sliced, with a cache lock


class MissSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: MissMode = MissMode.NOT_FOUND
    origin_url: AnyHttpUrl | None = Field(
        default=None, description="Base URL the fallback fetches '<title>/<rest>' under."
    )
    origin_ca_file: Path = Field(
        default=Path("/etc/ssl/certs/ca-certificates.crt"),
        description="CAs that may sign an https origin's certificate (it is verified).",
    )
    cache_dir: Path = Path("/var/cache/edgefill/origin")
    cache_max_size: str = Field(default="10g", pattern=r"^[0-9]+[kmg]?$")
    slice_size: str = Field(default="1m", pattern=r"^[0-9]+[km]?$")
    lock_timeout_s: int = Field(default=10, ge=1, le=300)

    @model_validator(mode="after")
    def _origin_when_falling_back(self) -> MissSettings:
        if self.mode is MissMode.ORIGIN_FALLBACK and self.origin_url is None:
            raise ValueError(
                "miss.mode is origin-fallback but miss.origin_url is not set: give the origin's "
                "base URL, or set miss.mode to not-found"
            )
        return self


class TlsSource(StrEnum):
    """Where the serving certificate comes from."""

    FLEET = "fleet"  # the control plane's small CA, through POST .../certificate
    FILES = "files"  # files placed by Ansible (for example from ACME); the agent only reads them


class TlsSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: TlsSource = TlsSource.FLEET
    certificate_path: Path = Path("/etc/edgefill/tls/appliance.crt")
    key_path: Path = Path("/etc/edgefill/tls/appliance.key")
    fleet_ca_path: Path = Field(
        default=Path("/etc/edgefill/tls/fleet-ca.pem"),
        description="The fleet CA's certificate, kept at issue: peers' certificates chain to it.",
    )
    renew_before_s: int = Field(default=3 * 24 * 3600, ge=60, description="Renew this early.")
    ktls: bool = Field(default=True, description="Ask OpenSSL for kTLS where the kernel has it.")


class ClientLimits(BaseModel):
    """Per-client-address limits on playback (/t/) requests; 0 turns one off.

    Set them for the ISP's address plan: behind carrier-grade NAT many subscribers share one
    address, each player holding a few connections, so the defaults leave room for a few
    dozen players per address. Refused requests get 429. Fills from peers (/f/) are not
    limited here (a peer fetches in parallel by design).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_connections: Annotated[int | None, ZeroIsOff] = Field(default=128, ge=1)
    requests_per_second: Annotated[int | None, ZeroIsOff] = Field(default=200, ge=1)
    burst: int = Field(default=400, ge=0, description="Requests over the rate served at once.")
    zone_size: str = Field(
        default="10m", pattern=r"^[0-9]+[km]$", description="Shared memory per limit (~16k/MB)."
    )


class OnNet(BaseModel):
    """Serve playback (/t/) only to the site's own client prefixes; every other address gets
    403 before its URL is even checked, so a leaked URL pulls no off-net traffic over the ISP's
    transit. Fills from peers (/f/) stay signed-only. Off by default. The prefixes are the
    site's as the control plane registers them (`from_control_plane`: fetched when a heartbeat
    ack names a new version, kept in `client_prefixes_file`), or listed here by the operator.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    from_control_plane: bool = False
    client_prefixes: tuple[NetworkPrefix, ...] = Field(default=(), max_length=100_000)

    @model_validator(mode="after")
    def _something_to_serve(self) -> OnNet:
        if self.from_control_plane and self.client_prefixes:
            raise ValueError(
                "on_net lists client_prefixes and takes them from the control plane: choose "
                "one (from_control_plane, or the list)"
            )
        if self.enabled and not self.from_control_plane and not self.client_prefixes:
            raise ValueError(
                "on_net is enabled with no client_prefixes: it would refuse every subscriber; "
                "list the site's prefixes, set from_control_plane, or turn it off"
            )
        return self


class DrainSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    state_file: Path = Path("/var/lib/edgefill/drain-state.json")
    # stub_status counts its own request, so 1 means "nobody but us".
    active_connections_threshold: int = Field(default=1, ge=0)
    timeout_s: float = Field(default=1800.0, gt=0)


class ServeSettings(BaseModel):
    """Everything render-nginx, the reloader and drain need; paths are absolute."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nginx_binary: Path = Path("/usr/sbin/nginx")
    nginx_user: str = Field(default="www-data", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    js_module_path: Path = Field(
        default=Path("/usr/lib/nginx/modules/ngx_http_js_module.so"),
        description="njs (Debian's libnginx-mod-http-js): checks a signed URL's expiry ceiling.",
    )
    template_dir: Path = PACKAGE_TEMPLATES
    config_root: Path = Field(
        default=Path("/etc/edgefill/nginx"),
        description="Holds releases/<id>/ and the `current` symlink nginx is started with.",
    )
    runtime_dir: Path = Path("/run/edgefill-nginx")
    log_dir: Path = Path("/var/log/edgefill")
    store_dir: Path = Field(
        default=Path("/srv/edgefill/store"), description="nginx serves <store>/objects/<key>."
    )
    secrets_file: Path = Path("/var/lib/edgefill/signing-secrets.json")
    client_prefixes_file: Path = Path("/var/lib/edgefill/client-prefixes.json")

    # bandit B104: an appliance serves subscribers on every interface unless told otherwise.
    listen_address: str = "0.0.0.0"  # nosec B104
    https_port: Annotated[int | None, ZeroIsOff] = Field(default=443, ge=1, le=65535)
    http_port: Annotated[int | None, ZeroIsOff] = Field(default=None, ge=1, le=65535)
    status_port: int = Field(default=8081, ge=1, le=65535, description="stub_status, loopback.")

    worker_processes: int | Literal["auto"] = "auto"
    worker_connections: int = Field(default=16384, ge=64)
    worker_rlimit_nofile: Annotated[int | None, ZeroIsOff] = Field(
        default=65536, ge=1024, description="0 (None) leaves the limit systemd gave nginx."
    )
    io_threads: int = Field(default=16, ge=1, le=512)
    worker_shutdown_timeout_s: int = Field(
        default=300, ge=1, description="Old workers finish long downloads within this, then go."
    )
    directio_threshold: str = Field(default="16m", pattern=r"^[0-9]+[km]?$")
    threaded_io_extensions: tuple[FileExtension, ...] = Field(
        default=("mkv", "mov", "webm"),
        min_length=1,
        description="Progressive containers read whole with aio threads (and directio when "
        "large). Not the CMAF renditions (.mp4): players read those in ranges, which sendfile "
        "serves from the page cache at about twice the rate (bench edge-serve).",
    )
    keepalive_timeout_s: int = Field(default=65, ge=0)
    access_log_flush_s: int = Field(default=1, ge=1, le=60)
    reload_min_interval_s: float = Field(
        default=5.0, ge=0, description="Reloads closer together than this wait (debounce)."
    )
    keep_releases: int = Field(default=3, ge=2, le=20)
    reload_request_file: Path | None = Field(
        default=None,
        description="Set where nginx's master runs as root (the appliance role sets it): a "
        "reload writes this file and systemd (edgefill-nginx-reload.path) reloads nginx. "
        "Unset, the agent signals a master that runs as its own user (tests, benchmarks).",
    )

    playback_url_max_lifetime_s: int = Field(
        default=8 * 3600,
        ge=60,
        description="A playback URL (/t/) expiring further out than this is refused: the "
        "control plane signs for 6 h (playback URL_TTL); the rest is clock skew.",
    )
    fill_url_max_lifetime_s: int = Field(
        default=3 * 24 * 3600,
        ge=60,
        description="A fill URL (/f/, a peer's manifest source) expiring further out than this "
        "is refused: manifests sign to the next window's close plus an hour, under 2 days.",
    )

    client_limits: ClientLimits = ClientLimits()
    on_net: OnNet = OnNet()
    miss: MissSettings = MissSettings()
    tls: TlsSettings = TlsSettings()
    drain: DrainSettings = DrainSettings()

    @model_validator(mode="after")
    def _serves_something(self) -> ServeSettings:
        if self.https_port is None and self.http_port is None:
            raise ValueError("https_port and http_port are both unset: nginx would serve nothing")
        ports = [p for p in (self.https_port, self.http_port, self.status_port) if p is not None]
        if len(set(ports)) != len(ports):
            raise ValueError(f"https_port, http_port and status_port must differ, got {ports}")
        return self

    @property
    def objects_dir(self) -> Path:
        return self.store_dir / "objects"

    @property
    def current_config(self) -> Path:
        """The nginx.conf nginx runs with: through the `current` symlink."""
        return self.config_root / "current" / "nginx.conf"

    @property
    def pid_file(self) -> Path:
        return self.runtime_dir / "nginx.pid"

    @property
    def check_pid_file(self) -> Path:
        """The pid file the agent's `nginx -t` opens: its own, not the root master's."""
        return self.config_root / ".nginx-check.pid"

    @property
    def access_log(self) -> Path:
        return self.log_dir / "access.log"

    @property
    def status_url(self) -> str:
        return f"http://127.0.0.1:{self.status_port}/stub_status"
