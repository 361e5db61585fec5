"""Agent configuration: one TOML file, single values overridable from `EDGEFILL_AGENT_*` env.

The file is `/etc/edgefill/agent.toml` unless `--config PATH` or `EDGEFILL_AGENT_CONFIG` names
another. Environment variables win over the file: `EDGEFILL_AGENT_CONCURRENCY=4`, and nested
values with a double underscore, `EDGEFILL_AGENT_FILL_WINDOW__START=03:00`. Sections for other
parts of the agent are nested models (a `[serve]` table becomes `AgentConfig.serve`).
"""

from __future__ import annotations

import logging
import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import AnyHttpUrl, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from appliance_agent.errors import ConfigError
from appliance_agent.health.settings import HealthSettings
from appliance_agent.serve.settings import ServeSettings
from edgefill_contracts import FillWindow
from edgefill_contracts.identity import FLEET_ID_PATTERN

logger = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("/etc/edgefill/agent.toml")
CONFIG_PATH_ENV = "EDGEFILL_AGENT_CONFIG"
ENV_PREFIX = "EDGEFILL_AGENT_"
# An Open Connect storage appliance fills at about 1.2 Gbit/s.
DEFAULT_MAX_FILL_RATE = 1_200_000_000 // 8
GIB = 1 << 30


class PeerPolicy(StrEnum):
    """Which of an object's ranked sources the agent may use."""

    MANIFEST_ORDER = "manifest-order"  # peers as ranked, then the origin (the last source)
    ORIGIN_ONLY = "origin-only"  # skip peers, fetch from the origin only


class AgentConfig(BaseSettings):
    """Everything the agent needs to fill, scrub and report; see the module docstring."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    control_plane_url: AnyHttpUrl = Field(description="Base URL of the fleet API.")
    appliance_id: str = Field(
        pattern=FLEET_ID_PATTERN, description="As in the fleet registry: a-z, 0-9 and '-'."
    )
    credential_file: Path = Path("/etc/edgefill/credential.json")
    store_path: Path = Field(
        default=Path("/srv/edgefill/store"), description="nginx serves <store_path>/objects."
    )
    state_dir: Path = Path("/var/lib/edgefill")
    byte_budget: int = Field(ge=0, description="Most bytes the store may hold.")
    free_space_floor: int = Field(
        default=GIB, ge=0, description="Bytes that must stay free on the store's file system."
    )
    fill_window: FillWindow = FillWindow()
    window_jitter_s: float = Field(default=120.0, ge=0, le=3600)
    window_park_grace_s: float = Field(
        default=60.0,
        ge=0,
        description="After the window ends, downloads in flight may finish for this long; "
        "then they are parked (their partial bytes kept for the next window).",
    )
    manifest_poll_interval_s: float = Field(default=300.0, gt=0)
    max_fill_rate: int = Field(
        default=DEFAULT_MAX_FILL_RATE, ge=0, description="Bytes per second; 0 means unlimited."
    )
    concurrency: int = Field(default=8, ge=1, le=64)
    peer_policy: PeerPolicy = PeerPolicy.MANIFEST_ORDER
    request_timeout_s: float = Field(default=30.0, gt=0, le=600)
    attempts_per_source: int = Field(default=3, ge=1, le=10)
    retry_backoff_s: float = Field(default=0.5, ge=0, le=60)
    scrub_rate: int = Field(
        default=100_000_000, ge=0, description="Bytes per second re-hashed by verify; 0: no cap."
    )
    scrub_interval_s: float = Field(
        default=86_400.0,
        ge=0,
        description="The daemon scrubs the store this often, outside the fill window; 0: never.",
    )
    serve: ServeSettings = ServeSettings()
    health: HealthSettings = HealthSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init kwargs; the environment overrides them.
        return (env_settings, init_settings)


def resolve_config_path(explicit: Path | None) -> Path:
    """`--config` first, then `EDGEFILL_AGENT_CONFIG`, then /etc/edgefill/agent.toml."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get(CONFIG_PATH_ENV)
    return Path(from_env) if from_env else DEFAULT_CONFIG_PATH


def load_config(path: Path | None = None) -> AgentConfig:
    """Read and validate the config file plus env overrides, or raise ConfigError saying why."""
    config_path = resolve_config_path(path)
    try:
        raw: dict[str, Any] = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            f"config file {config_path} does not exist: create it, or point --config or "
            f"{CONFIG_PATH_ENV} at the right file"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {config_path} cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {config_path} is not valid TOML: {exc}") from exc
    try:
        config = AgentConfig(**raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, origin=str(config_path))) from exc
    logger.debug("loaded config from %s", config_path)
    return config


def describe_validation_error(exc: ValidationError, *, origin: str) -> str:
    """One line per bad field, naming the file key and the env variable that set it."""
    lines = [f"invalid agent configuration ({origin} and {ENV_PREFIX}* environment):"]
    for error in exc.errors():
        dotted = ".".join(str(part) for part in error["loc"]) or "(top level)"
        env_name = ENV_PREFIX + "__".join(str(part) for part in error["loc"]).upper()
        lines.append(f"  {dotted} (env {env_name}): {error['msg']}")
    return "\n".join(lines)
