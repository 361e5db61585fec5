"""Snapshots never raise: a source that fails becomes an error line; /metrics shows the same."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from appliance_agent.health.access_log import AccessLogTail, ServingTally
from appliance_agent.health.errors import StubStatusError
from appliance_agent.health.heartbeat import build_heartbeat
from appliance_agent.health.metrics import HealthCollector, serve_metrics
from appliance_agent.health.snapshot import ControlPlaneLink, HealthMonitor
from appliance_agent.health.stub_status import StubStatus
from appliance_agent.serve.drain import DrainController
from appliance_agent.serve.settings import DrainSettings
from appliance_agent.serve.signing_secrets import SigningSecretStore
from appliance_agent.status import StatusFile
from edgefill_contracts import ApplianceState, FillProgress, SigningSecret, SigningSecretSet

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STUB = StubStatus(active=3, accepts=10, handled=10, requests=20, reading=0, writing=1, waiting=2)


def _monitor(tmp_path: Path, *, stub_ok: bool = True, store: Path | None = None) -> HealthMonitor:
    def stub() -> StubStatus:
        if not stub_ok:
            raise StubStatusError("cannot read nginx stub_status: is nginx running?")
        return STUB

    log = tmp_path / "access.log"
    log.write_text('{"status": 200, "bytes_sent": 1000}\n{"status": 404, "bytes_sent": 10}\n')
    secrets = SigningSecretStore(tmp_path / "secrets.json")
    secrets.save(
        SigningSecretSet(secrets=[SigningSecret(secret_id="k1", secret=SecretStr("x" * 20))])
    )
    return HealthMonitor(
        store_path=store or tmp_path,
        status_file=StatusFile(tmp_path / "state"),
        tally=ServingTally(AccessLogTail(log, from_start=True)),
        stub_status=stub,
        drain=DrainController(
            DrainSettings(state_file=tmp_path / "drain.json"),
            active_connections=lambda: STUB.active,
        ),
        secrets=secrets,
        ktls_active=False,
        link=ControlPlaneLink(),
    )


def test_snapshot_gathers_every_source(tmp_path: Path) -> None:
    monitor = _monitor(tmp_path)
    monitor.status_file.update(
        lambda s: s.model_copy(
            update={"manifest_version": "v7", "objects_held": 4, "fill": FillProgress(bytes_done=5)}
        )
    )
    snap = monitor.snapshot(NOW)
    assert snap.serving.by_status == {"200": 1, "404": 1}
    assert snap.serving.active_connections == 3
    assert snap.accepted_secret_ids == ["k1"]
    assert snap.state is ApplianceState.SERVING
    assert snap.disk.total_bytes > 0
    assert snap.errors == []
    heartbeat = build_heartbeat(snap, appliance_id="ap-1")
    assert heartbeat.held.manifest_version == "v7" and heartbeat.fill.bytes_done == 5


def test_heartbeat_reports_the_control_plane_state_a_drain_began_on(tmp_path: Path) -> None:
    monitor = _monitor(tmp_path)
    ordered_at = NOW - timedelta(hours=1)  # the control plane's clock, not the agent's
    monitor.drain.note_control_plane_change(ordered_at)
    monitor.drain.request(ApplianceState.DRAINING, now=NOW, reason="maintenance")
    later = NOW + timedelta(seconds=30)
    monitor.drain.note_control_plane_change(later)  # an undrain the agent just heard of
    heartbeat = build_heartbeat(monitor.snapshot(later), appliance_id="ap-1")
    # STUB has active connections above the threshold: still draining, on the older state.
    assert (heartbeat.state, heartbeat.state_basis) == (ApplianceState.DRAINING, ordered_at)


def test_failing_sources_become_error_lines(tmp_path: Path) -> None:
    monitor = _monitor(tmp_path, stub_ok=False, store=tmp_path / "no-such-store")
    (tmp_path / "drain.json").write_text("{broken")
    monitor.link.failed(NOW, "connect refused")
    snap = monitor.snapshot(NOW)
    assert not snap.nginx_up
    joined = "\n".join(snap.errors)
    assert "is nginx running" in joined
    assert "cannot read disk use" in joined
    assert "drain state file" in joined
    assert "control plane unreachable since 2026-11-25T12:00:00Z" in joined
    heartbeat = build_heartbeat(snap, appliance_id="ap-1")  # still a valid heartbeat
    assert heartbeat.state_basis is None  # unknown: the control plane keeps its own view


def test_collector_reads_a_fresh_snapshot_per_scrape(tmp_path: Path) -> None:
    monitor = _monitor(tmp_path)
    registry = CollectorRegistry()
    registry.register(HealthCollector(lambda: monitor.snapshot(NOW)))
    assert registry.get_sample_value("edgefill_serving_requests_total", {"status": "200"}) == 1
    assert registry.get_sample_value("edgefill_serving_sent_bytes_total") == 1010
    assert registry.get_sample_value("edgefill_nginx_active_connections") == 3
    assert registry.get_sample_value("edgefill_appliance_state", {"state": "Serving"}) == 1
    assert registry.get_sample_value("edgefill_control_plane_reachable") == 1
    with open(tmp_path / "access.log", "a") as log:
        log.write('{"status": 200, "bytes_sent": 5}\n')
    assert registry.get_sample_value("edgefill_serving_requests_total", {"status": "200"}) == 2
    monitor.link.failed(NOW, "down")
    assert registry.get_sample_value("edgefill_control_plane_reachable") == 0


def test_metrics_endpoint_serves_the_collector(tmp_path: Path) -> None:
    monitor = _monitor(tmp_path)
    registry = CollectorRegistry()
    registry.register(HealthCollector(lambda: monitor.snapshot(NOW)))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server, thread = serve_metrics(registry, address="127.0.0.1", port=port)
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert 'edgefill_serving_requests_total{status="404"} 1.0' in body
    assert 'edgefill_manifest_info{version=""} 1.0' in body
