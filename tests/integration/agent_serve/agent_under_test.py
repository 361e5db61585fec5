"""An agent config pointing at a test fleet server and a test nginx, all under one tmp dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance_agent.config import AgentConfig
from appliance_agent.serve.settings import ServeSettings


def agent_config(root: Path, *, fleet_url: str, serve: ServeSettings, **health: Any) -> AgentConfig:
    """AgentConfig whose store and state paths are the ones `serve` was built with."""
    return AgentConfig(
        control_plane_url=fleet_url,
        appliance_id="appliance-1",
        credential_file=root / "etc" / "credential.json",
        store_path=serve.store_dir,
        state_dir=serve.secrets_file.parent,
        byte_budget=1 << 30,
        serve=serve,
        health={
            "bootstrap_token_file": root / "etc" / "bootstrap-token",
            "heartbeat_interval_s": 1.0,
            "heartbeat_jitter": 0.1,
            "backoff_max_s": 8.0,
            "request_timeout_s": 2.0,
            "access_log_from_start": True,
            **health,
        },
    )
