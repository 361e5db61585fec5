"""Registration and heartbeats against a fleet server on uvicorn, with a real nginx serving."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from appliance_agent import USER_AGENT, assembly
from appliance_agent.config import AgentConfig
from appliance_agent.fleet_client import FleetClient, fleet_client_for
from appliance_agent.health.heartbeat import HeartbeatTask
from appliance_agent.status import StatusFile
from edgefill_contracts import ApplianceState
from tests.integration.agent_serve.agent_under_test import agent_config
from tests.integration.agent_serve.appliance_nginx import (
    SECRET,
    SECRET_ID,
    RunningAppliance,
    put_object,
)
from tests.integration.agent_serve.fleet_server import FleetState, RunningFleet, run_fleet

pytestmark = pytest.mark.nginx

KEY = "title-1/720p/seg_0001.ts"
NEW_SECRET = "rotated-secret-0123456789abcdef"


@pytest.fixture
def fleet() -> Iterator[RunningFleet]:
    state = FleetState(
        appliance_id="appliance-1",
        bootstrap_token="bootstrap-token-xyz",
        secrets={SECRET_ID: SECRET},
    )
    yield from run_fleet(state)


@pytest.fixture
def config(tmp_path: Path, fleet: RunningFleet, appliance: RunningAppliance) -> AgentConfig:
    config = agent_config(tmp_path / "agent", fleet_url=fleet.url, serve=appliance.settings)
    token = config.health.bootstrap_token_file
    token.parent.mkdir(parents=True)
    token.write_text(fleet.state.bootstrap_token + "\n")
    return config


@pytest.fixture
def make_task(config: AgentConfig) -> Iterator[Callable[..., HeartbeatTask]]:
    """Register, then build the daemon's heartbeat task; its fleet client closes at teardown."""
    clients: list[FleetClient] = []

    def make(registry: CollectorRegistry | None = None, **options: bool) -> HeartbeatTask:
        client = fleet_client_for(config, None)
        clients.append(client)
        assembly.register(config, client)
        return assembly.heartbeat_task(config, client=client, registry=registry, **options)

    yield make
    for client in clients:
        client.close()


def _beat_until(task: HeartbeatTask, fleet: RunningFleet, predicate: object) -> None:
    """Beat until the newest heartbeat the server got satisfies `predicate` (bounded: 10 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        task.beat()
        if fleet.state.heartbeats and predicate(fleet.state.heartbeats[-1]):  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"no matching heartbeat; last: {fleet.state.heartbeats[-1:]}")


def test_registration_stores_the_credential_0600_and_spends_the_token(
    config: AgentConfig, fleet: RunningFleet
) -> None:
    with fleet_client_for(config, None) as client:
        credential = assembly.register(config, client)
    assert credential.credential_id == "cred-1"
    assert stat.S_IMODE(os.stat(config.credential_file).st_mode) == 0o600
    assert not config.health.bootstrap_token_file.exists()
    # A second start reads the stored credential; the server would refuse a second registration.
    with fleet_client_for(config, None) as client:
        again = assembly.register(config, client)
    assert again.secret.get_secret_value() == fleet.state.credential_secret


def _serve_a_request_mix(appliance: RunningAppliance) -> bytes:
    """Store KEY (100 kB) and request it whole (200), a range of it (206), a key the
    appliance lacks (404) and KEY with an unknown secret (403); returns KEY's bytes."""
    data = os.urandom(100_000)
    put_object(appliance.settings, KEY, data)
    url = appliance.url(KEY)
    assert httpx.get(url, timeout=5).status_code == 200
    assert httpx.get(url, headers={"Range": "bytes=0-999"}, timeout=5).status_code == 206
    assert httpx.get(appliance.url("title-1/720p/absent.ts"), timeout=5).status_code == 404
    assert httpx.get(appliance.url(KEY, secret_id="nope"), timeout=5).status_code == 403
    return data


def test_heartbeat_carries_serving_counters_after_real_requests(
    config: AgentConfig,
    fleet: RunningFleet,
    appliance: RunningAppliance,
    make_task: Callable[..., HeartbeatTask],
) -> None:
    task = make_task()
    data = _serve_a_request_mix(appliance)
    _beat_until(task, fleet, lambda hb: hb.serving.requests >= 4)  # the log flushes every 1 s
    heartbeat = fleet.state.heartbeats[-1]
    assert heartbeat.serving.requests == 4
    assert heartbeat.serving.by_status == {"200": 1, "206": 1, "404": 1, "403": 1}
    assert len(data) + 1000 < heartbeat.serving.bytes_sent < len(data) + 1000 + 4 * 1024
    assert heartbeat.state is ApplianceState.SERVING
    assert heartbeat.accepted_secret_ids == [SECRET_ID]
    assert heartbeat.disk.total_bytes > 0
    assert heartbeat.serving.active_connections >= 1  # stub_status counts its own request
    assert heartbeat.ktls_active is False  # plain HTTP in this test


def test_served_bytes_per_unit_reach_the_fleet_once_across_a_restart(
    config: AgentConfig,
    fleet: RunningFleet,
    appliance: RunningAppliance,
    make_task: Callable[..., HeartbeatTask],
) -> None:
    task = make_task(report_served=True)
    data = _serve_a_request_mix(appliance)
    put_object(appliance.settings, "title-2/1080p/movie.mp4", data[:5000])
    url = appliance.url(KEY)
    # A peer's fill (its agent's User-Agent) is logged as peer_fill and not counted.
    fill = httpx.get(url, headers={"User-Agent": USER_AGENT}, timeout=5)
    assert fill.status_code == 200 and fill.content == data
    _beat_until(task, fleet, lambda _hb: bool(fleet.state.served))  # the log flushes every 1 s
    [first] = fleet.state.served.values()
    assert first.by_unit == {"title-1/720p": len(data) + 1000}  # body bytes of 200 + 206 only

    # A new daemon (as after a crash) picks up the request it did not see, and nothing twice.
    assert httpx.get(appliance.url("title-2/1080p/movie.mp4"), timeout=5).status_code == 200
    time.sleep(1.5)  # access_log_flush_s
    restarted = make_task(report_served=True)
    restarted.served.interval_s = 0.001  # type: ignore[union-attr]
    _beat_until(restarted, fleet, lambda _hb: len(fleet.state.served) == 2)
    totals: dict[str, int] = {}
    for report in fleet.state.served.values():
        for unit, count in report.by_unit.items():
            totals[unit] = totals.get(unit, 0) + count
    assert totals == {"title-1/720p": len(data) + 1000, "title-2/1080p": 5000}


def test_ack_with_a_new_secret_id_makes_nginx_accept_it(
    config: AgentConfig,
    fleet: RunningFleet,
    appliance: RunningAppliance,
    make_task: Callable[..., HeartbeatTask],
) -> None:
    put_object(appliance.settings, KEY, b"rotate me")
    task = make_task()
    new_url = appliance.url(KEY, secret_id="k2", secret=NEW_SECRET)
    assert httpx.get(new_url, timeout=5).status_code == 403

    fleet.state.secrets["k2"] = NEW_SECRET  # rotation starts: current + new
    _beat_until(task, fleet, lambda hb: hb.accepted_secret_ids == [SECRET_ID, "k2"])
    assert httpx.get(new_url, timeout=5).content == b"rotate me"
    assert httpx.get(appliance.url(KEY), timeout=5).status_code == 200

    del fleet.state.secrets[SECRET_ID]  # overlap over
    _beat_until(task, fleet, lambda hb: hb.accepted_secret_ids == ["k2"])
    assert httpx.get(appliance.url(KEY), timeout=5).status_code == 403


def test_drain_ordered_by_the_control_plane(
    config: AgentConfig,
    fleet: RunningFleet,
    appliance: RunningAppliance,
    make_task: Callable[..., HeartbeatTask],
) -> None:
    put_object(appliance.settings, KEY, b"in flight")
    task = make_task()
    task.beat()
    fleet.state.desired_state = ApplianceState.DRAINING
    _beat_until(task, fleet, lambda hb: hb.state is ApplianceState.DRAINED)
    states = [hb.state for hb in fleet.state.heartbeats]
    assert states[0] is ApplianceState.SERVING
    # Draining never stops nginx: what is requested is still served.
    assert httpx.get(appliance.url(KEY), timeout=5).content == b"in flight"
    fleet.state.desired_state = ApplianceState.SERVING
    _beat_until(task, fleet, lambda hb: hb.state is ApplianceState.SERVING)


def test_control_plane_down_serving_continues_and_status_says_so(
    config: AgentConfig,
    fleet: RunningFleet,
    appliance: RunningAppliance,
    make_task: Callable[..., HeartbeatTask],
) -> None:
    put_object(appliance.settings, KEY, b"static stability")
    registry = CollectorRegistry()
    task = make_task(registry)
    assert task.beat() < 2.0
    fleet.stop()

    delays = [task.beat() for _ in range(3)]
    assert delays[0] > 1.5 and delays[1] > delays[0] * 1.4  # backing off, capped later
    assert not task.monitor.link.reachable
    assert registry.get_sample_value("edgefill_control_plane_reachable") == 0
    errors = StatusFile(config.state_dir).read().errors
    assert len([e for e in errors if "heartbeat failed" in e and "unreachable" in e]) == 1
    # nginx keeps serving with the last good config and secret; nothing was deleted.
    assert httpx.get(appliance.url(KEY), timeout=5).content == b"static stability"
    assert (appliance.settings.objects_dir / KEY).exists()


def test_metrics_expose_the_heartbeat_numbers(
    config: AgentConfig,
    fleet: RunningFleet,
    appliance: RunningAppliance,
    make_task: Callable[..., HeartbeatTask],
) -> None:
    put_object(appliance.settings, KEY, b"m" * 5000)
    registry = CollectorRegistry()
    task = make_task(registry)
    assert httpx.get(appliance.url(KEY), timeout=5).status_code == 200
    _beat_until(task, fleet, lambda hb: hb.serving.requests >= 1)
    assert registry.get_sample_value("edgefill_serving_requests_total", {"status": "200"}) == 1
    assert (registry.get_sample_value("edgefill_serving_sent_bytes_total") or 0) >= 5000
    assert registry.get_sample_value("edgefill_appliance_state", {"state": "Serving"}) == 1
    assert registry.get_sample_value("edgefill_appliance_state", {"state": "Drained"}) == 0
    assert registry.get_sample_value("edgefill_nginx_up") == 1
    assert registry.get_sample_value("edgefill_signing_secrets_accepted") == 1
    assert (registry.get_sample_value("edgefill_disk_bytes", {"kind": "total"}) or 0) > 0
