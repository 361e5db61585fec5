"""Heartbeat cadence (jitter, capped backoff) and what happens when the ack cannot be obeyed."""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from appliance_agent.health.access_log import AccessLogTail, ServingTally
from appliance_agent.health.fleet_client import FleetClient
from appliance_agent.health.heartbeat import HeartbeatTask, next_delay
from appliance_agent.health.settings import HealthSettings
from appliance_agent.health.snapshot import ControlPlaneLink, HealthMonitor
from appliance_agent.health.stub_status import StubStatus
from appliance_agent.serve.drain import DrainController
from appliance_agent.serve.errors import NginxConfigInvalid
from appliance_agent.serve.settings import DrainSettings
from appliance_agent.serve.signing_secrets import SigningSecretStore
from appliance_agent.status import StatusFile
from edgefill_contracts import ApplianceCredential

SETTINGS = HealthSettings(heartbeat_interval_s=10, heartbeat_jitter=0.2, backoff_max_s=120)
CREDENTIAL = ApplianceCredential(
    appliance_id="ap-1", credential_id="c1", secret=SecretStr("s" * 20)
)


def test_healthy_delay_is_the_interval_with_jitter() -> None:
    rng = random.Random(7)
    delays = [next_delay(settings=SETTINGS, consecutive_failures=0, rng=rng) for _ in range(200)]
    assert all(8.0 <= d <= 12.0 for d in delays)
    assert max(delays) - min(delays) > 2.0  # actually spread, not a constant


@pytest.mark.parametrize(("failures", "base"), [(1, 20), (2, 40), (3, 80), (4, 120), (50, 120)])
def test_failing_delay_doubles_up_to_the_cap(failures: int, base: float) -> None:
    rng = random.Random(1)
    for _ in range(50):
        delay = next_delay(settings=SETTINGS, consecutive_failures=failures, rng=rng)
        assert base * 0.8 <= delay <= base * 1.2


def _monitor(tmp_path: Path, status: StatusFile) -> HealthMonitor:
    """A health monitor over a fake nginx (one active connection) and files in tmp_path."""
    return HealthMonitor(
        store_path=tmp_path,
        status_file=status,
        tally=ServingTally(AccessLogTail(tmp_path / "access.log")),
        stub_status=lambda: StubStatus(
            active=1, accepts=1, handled=1, requests=1, reading=0, writing=1, waiting=0
        ),
        drain=DrainController(
            DrainSettings(state_file=tmp_path / "drain.json"), active_connections=lambda: 1
        ),
        secrets=SigningSecretStore(tmp_path / "secrets.json"),
        ktls_active=False,
        link=ControlPlaneLink(),
    )


def test_a_refused_secret_set_is_reported_in_the_next_heartbeat(tmp_path: Path) -> None:
    sent: list[dict[str, object]] = []  # heartbeat bodies as the server got them

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(
            200, json={"desired_state": "Serving", "signing_secret_ids": ["k1", "k2"]}
        )

    def refused() -> None:
        raise NginxConfigInvalid("nginx -t refused the new tree", output="bad")

    status = StatusFile(tmp_path / "state")
    monitor = _monitor(tmp_path, status)
    client = FleetClient(
        base_url="http://fleet",
        credential=CREDENTIAL,
        timeout_s=1,
        transport=httpx.MockTransport(handler),
    )
    task = HeartbeatTask(
        appliance_id="ap-1", settings=SETTINGS, monitor=monitor, client=client,
        drain=monitor.drain, status_file=status, refresh_secrets=refused, rng=random.Random(3),
    )  # fmt: skip
    task.beat()
    task.beat()
    assert monitor.link.reachable  # the heartbeat itself worked
    errors = sent[1]["errors"]
    assert isinstance(errors, list) and any("nginx -t refused" in e for e in errors)
    client.close()


def test_a_resolved_outage_stops_being_reported(tmp_path: Path) -> None:
    """One lost heartbeat must not keep the appliance out of steering once the link is back."""
    sent: list[dict[str, object]] = []
    down = True

    def handler(request: httpx.Request) -> httpx.Response:
        if down:
            return httpx.Response(503, json={"error": "unavailable", "message": "down"})
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"desired_state": "Serving"})

    status = StatusFile(tmp_path / "state")
    monitor = _monitor(tmp_path, status)
    client = FleetClient(
        base_url="http://fleet", credential=CREDENTIAL, timeout_s=1,
        transport=httpx.MockTransport(handler),
    )  # fmt: skip
    task = HeartbeatTask(
        appliance_id="ap-1", settings=SETTINGS, monitor=monitor, client=client,
        drain=monitor.drain, status_file=status, refresh_secrets=lambda: None,
        rng=random.Random(3),
    )  # fmt: skip
    task.beat()
    assert any("heartbeat failed" in e for e in status.read().errors)
    down = False
    task.beat()  # reaches the control plane (still reporting the outage), which clears it
    task.beat()
    assert not any("heartbeat failed" in e for e in status.read().errors)
    assert sent[-1]["errors"] == []
    client.close()
