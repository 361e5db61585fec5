"""Prometheus metrics on the management port: the heartbeat's numbers, computed at scrape time.

The collector is registered into a CollectorRegistry the caller passes in (tests use a fresh
one), and reads a HealthSnapshot on every scrape instead of keeping gauges up to date by hand.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from appliance_agent.health.served_reports import ServedStats
from appliance_agent.health.snapshot import HealthSnapshot
from edgefill_contracts import ApplianceState


class HealthCollector(Collector):
    def __init__(self, snapshot: Callable[[], HealthSnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        disk = GaugeMetricFamily(
            "edgefill_disk_bytes", "Store file system size, by kind", labels=["kind"]
        )
        disk.add_metric(["total"], snap.disk.total_bytes)
        disk.add_metric(["used"], snap.disk.used_bytes)
        disk.add_metric(["free"], snap.disk.free_bytes)
        yield disk

        requests = CounterMetricFamily(
            "edgefill_serving_requests", "Requests nginx answered, by status", labels=["status"]
        )
        for status, count in sorted(snap.serving.by_status.items()):
            requests.add_metric([status], count)
        yield requests
        yield CounterMetricFamily(
            "edgefill_serving_sent_bytes", "Bytes nginx sent", value=snap.serving.bytes_sent
        )
        yield CounterMetricFamily(
            "edgefill_origin_fallback_requests",
            "Requests answered through the origin fallback",
            value=snap.origin_fallbacks,
        )
        yield GaugeMetricFamily(
            "edgefill_nginx_active_connections",
            "nginx active connections (stub_status)",
            value=snap.serving.active_connections,
        )
        yield GaugeMetricFamily(
            "edgefill_nginx_up", "1 if stub_status answered", value=int(snap.nginx_up)
        )

        state = GaugeMetricFamily(
            "edgefill_appliance_state", "1 for the current serving state", labels=["state"]
        )
        for candidate in ApplianceState:
            state.add_metric([candidate.value], int(candidate is snap.state))
        yield state

        held = snap.status.held_digest()
        yield InfoMetricFamily(
            "edgefill_manifest", "Applied manifest", value={"version": held.manifest_version or ""}
        )
        yield GaugeMetricFamily("edgefill_objects_held", "Objects held", value=held.object_count)
        yield GaugeMetricFamily("edgefill_held_bytes", "Bytes held", value=held.object_bytes)
        yield GaugeMetricFamily(
            "edgefill_objects_missing",
            "Objects of the manifest not held",
            value=snap.status.missing_count,
        )
        fill = snap.status.fill_progress()
        progress = GaugeMetricFamily(
            "edgefill_fill_bytes", "Fill progress in bytes", labels=["kind"]
        )
        progress.add_metric(["total"], fill.bytes_total)
        progress.add_metric(["done"], fill.bytes_done)
        yield progress
        yield GaugeMetricFamily(
            "edgefill_fill_running", "1 while a fill runs", value=int(fill.running)
        )

        yield GaugeMetricFamily(
            "edgefill_signing_secrets_accepted",
            "Signing secrets nginx accepts",
            value=len(snap.accepted_secret_ids),
        )
        yield GaugeMetricFamily(
            "edgefill_ktls_active", "1 if kTLS is in use", value=int(snap.ktls_active)
        )
        yield GaugeMetricFamily(
            "edgefill_control_plane_reachable",
            "1 if the last fleet call worked",
            value=int(snap.control_plane_reachable),
        )
        yield GaugeMetricFamily("edgefill_errors", "Error lines reported", value=len(snap.errors))


class ServedCollector(Collector):
    """Served-bytes reporting: what waits to be reported, and how often sending failed."""

    def __init__(self, stats: Callable[[], ServedStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        yield CounterMetricFamily(
            "edgefill_served_counted_bytes",
            "Body bytes counted for served reports since the agent started",
            value=stats.counted_bytes,
        )
        yield GaugeMetricFamily(
            "edgefill_served_open_bytes",
            "Bytes served and counted, not yet sealed into a served report",
            value=stats.open_bytes,
        )
        yield GaugeMetricFamily(
            "edgefill_served_report_pending_bytes",
            "Bytes in the sealed served report the control plane has not acknowledged",
            value=stats.pending_bytes,
        )
        yield CounterMetricFamily(
            "edgefill_served_report_failures",
            "Served reports that could not be sent (each is resent)",
            value=stats.send_failures,
        )
        yield CounterMetricFamily(
            "edgefill_served_reports_discarded",
            "Served reports the control plane refused for good (400, 413, 422) and were dropped",
            value=stats.discarded_reports,
        )


def serve_metrics(
    registry: CollectorRegistry, *, address: str, port: int
) -> tuple[WSGIServer, threading.Thread]:
    """Expose `registry` on http://address:port/metrics from a daemon thread."""
    return start_http_server(port, addr=address, registry=registry)
