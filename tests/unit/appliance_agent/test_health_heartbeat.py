"""Heartbeat cadence (jitter, capped backoff) and what happens when the ack cannot be obeyed."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from appliance_agent.fleet_client import FleetClient
from appliance_agent.health.access_log import AccessLogTail, ServingTally
from appliance_agent.health.heartbeat import HeartbeatTask, next_delay
from appliance_agent.health.metrics import ServedCollector
from appliance_agent.health.served_ledger import ServedLedger
from appliance_agent.health.served_reports import ServedReporter
from appliance_agent.health.settings import HealthSettings
from appliance_agent.health.snapshot import ControlPlaneLink, HealthMonitor
from appliance_agent.health.stub_status import StubStatus
from appliance_agent.serve.client_prefixes import prefixes_to_fetch
from appliance_agent.serve.drain import DrainController
from appliance_agent.serve.errors import NginxConfigInvalid
from appliance_agent.serve.settings import DrainSettings
from appliance_agent.serve.signing_secrets import SigningSecretStore
from appliance_agent.status import StatusFile
from edgefill_contracts import ApplianceCredential
from tests.unit.appliance_agent.access_log_lines import append, nginx_line

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


def _monitor(
    tmp_path: Path, status: StatusFile, tally: ServingTally | None = None
) -> HealthMonitor:
    """A health monitor over a fake nginx (one active connection) and files in tmp_path."""
    return HealthMonitor(
        store_path=tmp_path,
        status_file=status,
        tally=tally or ServingTally(AccessLogTail(tmp_path / "access.log")),
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


@pytest.mark.parametrize(
    ("failure", "reported"),
    [
        (NginxConfigInvalid("nginx -t refused the new tree", output="bad"), "nginx -t refused"),
        # Not an AgentError (a permission or a full disk): the heartbeat thread must live on.
        (PermissionError(1, "Operation not permitted"), "Operation not permitted"),
    ],
    ids=["refused", "os-error"],
)
def test_a_secret_set_not_applied_is_reported_in_the_next_heartbeat(
    tmp_path: Path, failure: Exception, reported: str
) -> None:
    sent: list[dict[str, object]] = []  # heartbeat bodies as the server got them

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(
            200, json={"desired_state": "Serving", "signing_secret_ids": ["k1", "k2"]}
        )

    def refused() -> None:
        raise failure

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
    assert isinstance(errors, list) and any(reported in e for e in errors)
    client.close()


def _task_against(
    tmp_path: Path, handler: Callable[[httpx.Request], httpx.Response], **callbacks: Any
) -> HeartbeatTask:
    """A heartbeat task whose fleet API is `handler`; `callbacks` are its refresh hooks."""
    status = StatusFile(tmp_path / "state")
    monitor = _monitor(tmp_path, status)
    client = FleetClient(
        base_url="http://fleet", credential=CREDENTIAL, timeout_s=1,
        transport=httpx.MockTransport(handler),
    )  # fmt: skip
    return HeartbeatTask(
        appliance_id="ap-1", settings=SETTINGS, monitor=monitor, client=client,
        drain=monitor.drain, status_file=status, rng=random.Random(3),
        **{"refresh_secrets": lambda: None, **callbacks},
    )  # fmt: skip


def test_a_resolved_outage_stops_being_reported(tmp_path: Path) -> None:
    """One lost heartbeat must not keep the appliance out of steering once the link is back."""
    sent: list[dict[str, object]] = []
    down = True

    def handler(request: httpx.Request) -> httpx.Response:
        if down:
            return httpx.Response(503, json={"error": "unavailable", "message": "down"})
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"desired_state": "Serving"})

    task = _task_against(tmp_path, handler)
    task.beat()
    assert any("heartbeat failed" in e for e in task.status_file.read().errors)
    down = False
    task.beat()  # reaches the control plane (still reporting the outage), which clears it
    task.beat()
    assert not any("heartbeat failed" in e for e in task.status_file.read().errors)
    assert sent[-1]["errors"] == []
    task.client.close()


class Fleet:
    """The fleet API as a MockTransport: heartbeat and served answers chosen per test."""

    def __init__(self) -> None:
        self.heartbeat_status = 200
        self.served_status = 200
        self.ack_for: str | None = None  # answer with another report_id
        self.heartbeats = 0
        self.served: list[dict[str, Any]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/heartbeat"):
            self.heartbeats += 1
            if self.heartbeat_status != 200:
                return httpx.Response(self.heartbeat_status, json={"message": "down"})
            return httpx.Response(200, json={"desired_state": "Serving"})
        body = json.loads(request.content)
        self.served.append(body)
        if self.served_status != 200:
            return httpx.Response(self.served_status, json={"message": "not now"})
        return httpx.Response(200, json={"report_id": self.ack_for or body["report_id"]})


class ServedSetup:
    """A heartbeat task with a served ledger over an access log in tmp_path, on a set clock."""

    def __init__(self, tmp_path: Path, fleet: Fleet) -> None:
        self.log = tmp_path / "access.log"
        self.log.write_text("")
        self.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
        self.ledger = ServedLedger.load(tmp_path / "state")
        self.status = StatusFile(tmp_path / "state")
        tally = ServingTally(
            AccessLogTail(self.log, resume=self.ledger.position), ledger=self.ledger
        )
        monitor = _monitor(tmp_path, self.status, tally)
        self.client = FleetClient(
            base_url="http://fleet", credential=CREDENTIAL, timeout_s=1,
            transport=httpx.MockTransport(fleet.handler),
        )  # fmt: skip
        self.reporter = ServedReporter(ledger=self.ledger, client=self.client, interval_s=300)
        self.task = HeartbeatTask(
            appliance_id="ap-1", settings=SETTINGS, monitor=monitor, client=self.client,
            drain=monitor.drain, status_file=self.status, refresh_secrets=lambda: None,
            served=self.reporter, rng=random.Random(3), clock=lambda: self.now,
        )  # fmt: skip

    def serve(self, obj: str, body: int) -> None:
        append(self.log, nginx_line(obj, body))


@pytest.fixture
def fleet() -> Fleet:
    return Fleet()


@pytest.fixture
def served(tmp_path: Path, fleet: Fleet) -> Iterator[ServedSetup]:
    setup = ServedSetup(tmp_path, fleet)
    yield setup
    setup.client.close()


def test_served_bytes_are_reported_after_a_heartbeat_and_acknowledged(
    served: ServedSetup, fleet: Fleet
) -> None:
    served.serve("t1/720p/a.ts", 1000)
    served.serve("t2/480p/b.ts", 30)
    served.task.beat()
    assert fleet.heartbeats == 1
    assert [r["by_unit"] for r in fleet.served] == [{"t1/720p": 1000, "t2/480p": 30}]
    assert served.ledger.pending is None and served.ledger.open_bytes == 0

    served.serve("t1/720p/a.ts", 5)
    served.now += timedelta(seconds=299)
    served.task.beat()
    assert len(fleet.served) == 1  # not due yet: counted, kept open
    assert served.ledger.open_bytes == 5
    served.now += timedelta(seconds=1)
    served.task.beat()
    assert fleet.served[-1]["by_unit"] == {"t1/720p": 5}
    assert fleet.served[-1]["report_id"] != fleet.served[0]["report_id"]


def test_a_failed_send_keeps_the_report_and_the_heartbeat_succeeds(
    served: ServedSetup, fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    registry.register(ServedCollector(served.reporter.stats))
    fleet.served_status = 503
    served.serve("t1/720p/a.ts", 1000)
    with caplog.at_level(logging.DEBUG, logger="appliance_agent.health.served_reports"):
        served.task.beat()
        served.serve("t1/720p/a.ts", 1)
        served.task.beat()
    assert served.task.monitor.link.reachable
    assert served.status.read().errors == []  # not a heartbeat error
    assert [r["by_unit"] for r in fleet.served] == [{"t1/720p": 1000}] * 2
    assert fleet.served[0]["report_id"] == fleet.served[1]["report_id"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "503" in warnings[0].getMessage()
    assert registry.get_sample_value("edgefill_served_report_failures_total") == 2
    assert registry.get_sample_value("edgefill_served_report_pending_bytes") == 1000
    assert registry.get_sample_value("edgefill_served_open_bytes") == 1
    assert registry.get_sample_value("edgefill_served_counted_bytes_total") == 1001

    fleet.served_status = 200
    served.task.beat()
    assert fleet.served[2]["report_id"] == fleet.served[0]["report_id"]
    assert served.ledger.pending is None
    assert registry.get_sample_value("edgefill_served_report_pending_bytes") == 0


@pytest.mark.parametrize("status", [400, 413, 422])
def test_a_report_refused_for_good_is_dropped_so_later_ones_still_go(
    served: ServedSetup, fleet: Fleet, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    registry = CollectorRegistry()
    registry.register(ServedCollector(served.reporter.stats))
    fleet.served_status = status
    served.serve("t1/720p/a.ts", 1000)
    with caplog.at_level(logging.ERROR, logger="appliance_agent.health.served_reports"):
        served.task.beat()
    assert served.ledger.pending is None
    assert "refused served report" in caplog.text and "1000 bytes" in caplog.text
    assert registry.get_sample_value("edgefill_served_reports_discarded_total") == 1
    assert registry.get_sample_value("edgefill_served_report_failures_total") == 0

    fleet.served_status = 200
    served.serve("t1/1080p/b.ts", 7)
    served.reporter.interval_s = 0.0
    served.task.beat()
    assert fleet.served[-1]["by_unit"] == {"t1/1080p": 7}
    assert served.ledger.pending is None


def test_an_ack_for_another_report_keeps_the_pending_one(served: ServedSetup, fleet: Fleet) -> None:
    fleet.ack_for = "b" * 32
    served.serve("t1/720p/a.ts", 1000)
    served.task.beat()
    pending = served.ledger.pending
    assert pending is not None and pending.report_id == fleet.served[0]["report_id"]
    assert served.reporter.send_failures == 1


def test_a_failed_heartbeat_sends_no_served_report(served: ServedSetup, fleet: Fleet) -> None:
    fleet.heartbeat_status = 503
    served.serve("t1/720p/a.ts", 1000)
    served.task.beat()
    assert fleet.heartbeats == 1 and fleet.served == []
    assert served.ledger.pending is None
    assert served.ledger.open_bytes == 1000  # counted and saved, waiting for the link


def test_an_unexpected_error_while_reporting_does_not_stop_the_heartbeat(
    served: ServedSetup, fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_report: object) -> object:
        raise RuntimeError("a bug")

    served.client.send_served = broken  # type: ignore[method-assign,assignment]
    served.serve("t1/720p/a.ts", 1000)
    delay = served.task.beat()
    assert 8.0 <= delay <= 12.0  # the healthy interval: the heartbeat worked
    assert "could not report served bytes" in caplog.text
    pending = served.ledger.pending
    assert pending is not None and pending.by_unit == {"t1/720p": 1000}


def test_the_acks_prefix_version_is_handed_on_before_the_secrets(tmp_path: Path) -> None:
    version = "p" + "0" * 24
    calls: list[str] = []
    ack = {"desired_state": "Serving", "signing_secret_ids": ["k9"]}
    task = _task_against(
        tmp_path,
        lambda request: httpx.Response(200, json={**ack, "client_prefixes_version": version}),
        refresh_secrets=lambda: calls.append("secrets"),
        refresh_prefixes=lambda v: calls.append(f"prefixes {v}"),
    )
    task.beat()
    assert calls == [f"prefixes {version}", "secrets"]
    task.client.close()


@pytest.mark.parametrize(
    ("stored", "announced", "fetch"),
    [
        (None, None, True),  # nothing held, the record names no version yet: a first set
        (None, "p" + "1" * 24, True),
        ("p" + "1" * 24, "p" + "1" * 24, False),
        ("p" + "1" * 24, "p" + "2" * 24, True),
        ("p" + "1" * 24, None, False),  # held, and nothing newer named
    ],
)
def test_which_acks_make_the_agent_fetch_the_sites_prefixes(
    stored: str | None, announced: str | None, fetch: bool
) -> None:
    assert prefixes_to_fetch(stored=stored, announced=announced) is fetch
