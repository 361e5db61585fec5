"""The serving subcommands through `appliance-agent` itself: register, render-nginx, heartbeat,
drain, against a fleet server on uvicorn and a real nginx."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance_agent.cli import main
from appliance_agent.serve.apply import nginx_for
from appliance_agent.serve.settings import ServeSettings
from edgefill_contracts import ApplianceState, sign_path
from tests.integration.agent_serve.appliance_nginx import SECRET, SECRET_ID, appliance_settings
from tests.integration.agent_serve.fleet_server import FleetState, RunningFleet, run_fleet

pytestmark = pytest.mark.nginx


def _toml(values: dict[str, Any], prefix: str = "") -> str:
    """Enough TOML for the agent config: scalars, lists and nested tables."""
    scalars = [f"{k} = {json.dumps(str(v) if isinstance(v, Path) else (0 if v is None else v))}"
               for k, v in values.items() if not isinstance(v, dict)]  # fmt: skip
    tables = [
        f"\n[{prefix}{k}]\n" + _toml(v, f"{prefix}{k}.")
        for k, v in values.items()
        if isinstance(v, dict)
    ]
    return "\n".join(scalars) + "\n" + "".join(tables)


@pytest.fixture
def fleet() -> Iterator[RunningFleet]:
    state = FleetState(
        appliance_id="appliance-1", bootstrap_token="bootstrap-cli", secrets={SECRET_ID: SECRET}
    )
    yield from run_fleet(state)


@pytest.fixture
def setup(tmp_path: Path, fleet: RunningFleet) -> Iterator[tuple[Path, ServeSettings]]:
    serve = appliance_settings(tmp_path / "appliance")
    (tmp_path / "bootstrap-token").write_text("bootstrap-cli\n")
    serve_section = serve.model_dump(
        mode="json",
        exclude={"store_dir", "secrets_file", "drain", "miss", "tls", "reload_request_file"},
    )
    config = {
        "control_plane_url": fleet.url,
        "appliance_id": "appliance-1",
        "credential_file": tmp_path / "credential.json",
        "store_path": serve.store_dir,
        "state_dir": serve.secrets_file.parent,
        "byte_budget": 1 << 30,
        "serve": serve_section,
        "health": {"bootstrap_token_file": tmp_path / "bootstrap-token", "metrics_port": None},
    }
    path = tmp_path / "agent.toml"
    path.write_text(_toml(config))
    yield path, serve
    nginx_for(serve).stop(graceful=False)


def test_register_render_heartbeat_drain(
    setup: tuple[Path, ServeSettings], fleet: RunningFleet, capsys: pytest.CaptureFixture[str]
) -> None:
    config, serve = setup
    assert main(["--config", str(config), "register"]) == 0
    assert stat.S_IMODE(os.stat(config.parent / "credential.json").st_mode) == 0o600

    assert main(["--config", str(config), "render-nginx", "--fetch-secrets"]) == 0
    assert "nginx now accepts them" in capsys.readouterr().out
    nginx_for(serve).start(serve.current_config)
    assert main(["--config", str(config), "render-nginx"]) == 0
    assert "reloaded" in capsys.readouterr().out

    key = "title-1/720p/seg_0001.ts"
    (serve.objects_dir / key).parent.mkdir(parents=True)
    (serve.objects_dir / key).write_bytes(b"cli")
    path = sign_path(secret_id=SECRET_ID, secret=SECRET, key=key, expires=int(time.time()) + 3600)
    assert httpx.get(f"http://127.0.0.1:{serve.http_port}{path}", timeout=5).content == b"cli"

    assert main(["--config", str(config), "heartbeat"]) == 0
    assert fleet.state.heartbeats[-1].accepted_secret_ids == [SECRET_ID]
    assert main(["--config", str(config), "heartbeat", "--dry-run"]) == 0
    printed = json.loads(capsys.readouterr().out.split("heartbeat sent\n")[-1])
    assert printed["appliance_id"] == "appliance-1"

    assert main(["--config", str(config), "drain", "--wait"]) == 0
    assert capsys.readouterr().out.startswith(ApplianceState.DRAINED.value)
    assert main(["--config", str(config), "drain", "--undrain"]) == 0
    assert capsys.readouterr().out.startswith(ApplianceState.SERVING.value)


def test_render_without_secrets_fails_with_a_hint(
    setup: tuple[Path, ServeSettings], capsys: pytest.CaptureFixture[str]
) -> None:
    config, _serve = setup
    assert main(["--config", str(config), "render-nginx"]) == 1
    assert "no signing secrets" in capsys.readouterr().err


def test_heartbeat_with_control_plane_down_exits_nonzero(
    setup: tuple[Path, ServeSettings], fleet: RunningFleet, capsys: pytest.CaptureFixture[str]
) -> None:
    config, _serve = setup
    assert main(["--config", str(config), "register"]) == 0
    fleet.stop()
    assert main(["--config", str(config), "heartbeat"]) == 1
    assert "heartbeat failed" in capsys.readouterr().out
