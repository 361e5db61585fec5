"""One consistent reading of the appliance's health: what the heartbeat and /metrics report.

Sources: the store's file system (disk), nginx (stub_status, access log), the agent's status
file (manifest, holdings, fill, errors; appliance_agent.status), the drain state, the signing
secrets nginx accepts, kTLS, and the control-plane link. A source that cannot be read becomes
an error line in the snapshot, never an exception: a heartbeat must still go out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from appliance_agent.health.access_log import ServingTally
from appliance_agent.health.disk import disk_usage
from appliance_agent.health.errors import StubStatusError
from appliance_agent.health.stub_status import StubStatus
from appliance_agent.serve.drain import DrainController
from appliance_agent.serve.errors import ServeError
from appliance_agent.serve.signing_secrets import SigningSecretStore, accepted_secret_ids
from appliance_agent.status import AgentStatus, StatusFile
from edgefill_contracts import ApplianceState, DiskUsage, ServingCounters
from edgefill_contracts.heartbeat import MAX_REPORTED_ERRORS

logger = logging.getLogger(__name__)


class ControlPlaneLink:
    """Whether the last fleet call worked, and since when it has not (for static stability)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.consecutive_failures = 0
        self.unreachable_since: datetime | None = None
        self.last_error: str | None = None
        self.last_success: datetime | None = None

    def succeeded(self, now: datetime) -> datetime | None:
        """Record a success; return when the outage that just ended began, if there was one."""
        with self._lock:
            ended = self.unreachable_since
            self.consecutive_failures, self.unreachable_since, self.last_error = 0, None, None
            self.last_success = now
            return ended

    def failed(self, now: datetime, error: str) -> bool:
        """Record a failure; True if it starts an outage (the first failure after a success)."""
        with self._lock:
            self.consecutive_failures += 1
            self.last_error = error
            if self.unreachable_since is None:
                self.unreachable_since = now
                return True
            return False

    @property
    def reachable(self) -> bool:
        return self.unreachable_since is None


@dataclass(frozen=True)
class HealthSnapshot:
    taken_at: datetime
    state: ApplianceState
    state_basis: datetime | None
    disk: DiskUsage
    serving: ServingCounters
    nginx_up: bool
    status: AgentStatus
    accepted_secret_ids: list[str]
    ktls_active: bool
    control_plane_reachable: bool
    origin_fallbacks: int = 0
    errors: list[str] = field(default_factory=list)


class HealthMonitor:
    """Takes snapshots; thread-safe, so the heartbeat and the metrics scrape can share it."""

    def __init__(
        self,
        *,
        store_path: Path,
        status_file: StatusFile,
        tally: ServingTally,
        stub_status: Callable[[], StubStatus],
        drain: DrainController,
        secrets: SigningSecretStore,
        ktls_active: bool,
        link: ControlPlaneLink,
    ) -> None:
        self.store_path = store_path
        self.status_file = status_file
        self.tally = tally
        self.stub_status = stub_status
        self.drain = drain
        self.secrets = secrets
        self.ktls_active = ktls_active
        self.link = link

    def snapshot(self, now: datetime) -> HealthSnapshot:
        problems: list[str] = []
        try:
            disk = disk_usage(self.store_path)
        except OSError as exc:
            problems.append(f"cannot read disk use of {self.store_path}: {exc.strerror}")
            disk = DiskUsage(total_bytes=0, used_bytes=0, free_bytes=0)
        self.tally.refresh()
        try:
            active = self.stub_status().active
            nginx_up = True
        except StubStatusError as exc:
            problems.append(str(exc))
            active, nginx_up = 0, False
        state_basis: datetime | None
        try:
            record = self.drain.advance(now=now)
            state, state_basis = record.state, record.basis
        except ServeError as exc:
            problems.append(str(exc))
            state, state_basis = ApplianceState.SERVING, None
        try:
            accepted = accepted_secret_ids(self.secrets.load(), now=now)
        except ServeError as exc:
            problems.append(str(exc))
            accepted = []
        if not self.link.reachable:
            problems.append(
                f"control plane unreachable since {self.link.unreachable_since:%Y-%m-%dT%H:%M:%SZ}"
                f" ({self.link.consecutive_failures} failed calls); serving what is held with "
                "the last good config and secrets"
            )
        status = self.status_file.read()
        errors = [*status.current_errors(now), *problems][-MAX_REPORTED_ERRORS:]
        return HealthSnapshot(
            taken_at=now,
            state=state,
            state_basis=state_basis,
            disk=disk,
            serving=self.tally.counters(active_connections=active),
            nginx_up=nginx_up,
            status=status,
            accepted_secret_ids=accepted,
            ktls_active=self.ktls_active,
            control_plane_reachable=self.link.reachable,
            origin_fallbacks=self.tally.origin_fallbacks,
            errors=errors,
        )
