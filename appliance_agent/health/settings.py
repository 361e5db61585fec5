"""Settings of the health side: heartbeat cadence, backoff, metrics port, where things are read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from appliance_agent.serve.settings import ZeroIsOff


class HealthSettings(BaseModel):
    """The `[health]` section of the agent config; identity and URLs live in AgentConfig."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_token_file: Path = Field(
        default=Path("/etc/edgefill/bootstrap-token"),
        description="One-time token an operator placed; removed once registration succeeds.",
    )
    heartbeat_interval_s: float = Field(default=15.0, gt=0, le=3600)
    heartbeat_jitter: float = Field(
        default=0.2, ge=0, lt=1, description="Each wait is the interval times 1 ± this."
    )
    backoff_max_s: float = Field(default=300.0, gt=0, description="Longest wait while failing.")
    request_timeout_s: float = Field(default=10.0, gt=0, le=120)
    metrics_address: str = "127.0.0.1"
    metrics_port: Annotated[int | None, ZeroIsOff] = Field(
        default=9110, ge=1, le=65535, description="Prometheus /metrics; 0 (None) turns it off."
    )
    access_log_from_start: bool = Field(
        default=False, description="Count the whole access log, not only lines after start-up."
    )
    served_report_interval_s: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="Seal the bytes served per content unit into a report this often; it is "
        "sent after the next heartbeat the control plane answers, and resent until acknowledged.",
    )
