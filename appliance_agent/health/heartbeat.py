"""The heartbeat: every N seconds (with jitter) tell the control plane how the appliance is.

The answer (HeartbeatAck) carries orders: the desired state (drain or serve) and the signing
secret ids to accept. Secrets the appliance lacks are fetched and nginx is re-rendered, so
the appliance accepts a new secret before the control plane signs with it.

Static stability: when the control plane is unreachable, the heartbeat backs off
(exponentially, capped, jittered), the outage is written once to the agent's status, and
nothing else changes: nginx keeps serving the held content with its last good config.

After a heartbeat the control plane answered, the served-bytes report goes out if one is due
(appliance_agent.health.served_reports); its failure never fails the heartbeat.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import datetime

from appliance_agent import __version__
from appliance_agent.clock import Clock, utc_now
from appliance_agent.errors import AgentError, ControlPlaneError
from appliance_agent.fleet_client import FleetClient
from appliance_agent.health.served_reports import ServedReporter
from appliance_agent.health.settings import HealthSettings
from appliance_agent.health.snapshot import HealthMonitor, HealthSnapshot
from appliance_agent.serve.drain import DrainController
from appliance_agent.status import StatusFile, with_error, without_errors
from edgefill_contracts import Heartbeat, HeartbeatAck

logger = logging.getLogger(__name__)


def build_heartbeat(snapshot: HealthSnapshot, *, appliance_id: str) -> Heartbeat:
    return Heartbeat(
        appliance_id=appliance_id,
        agent_version=__version__,
        sent_at=snapshot.taken_at,
        state=snapshot.state,
        state_basis=snapshot.state_basis,
        disk=snapshot.disk,
        held=snapshot.status.held_digest(),
        serving=snapshot.serving,
        fill=snapshot.status.fill_progress(),
        accepted_secret_ids=snapshot.accepted_secret_ids,
        ktls_active=snapshot.ktls_active,
        errors=snapshot.errors,
    )


def next_delay(*, settings: HealthSettings, consecutive_failures: int, rng: random.Random) -> float:
    """The interval with jitter; while failing, doubling per failure up to backoff_max_s."""
    base = settings.heartbeat_interval_s
    if consecutive_failures:
        base = min(settings.backoff_max_s, base * 2 ** min(consecutive_failures, 30))
    spread = settings.heartbeat_jitter
    return base * rng.uniform(1 - spread, 1 + spread)


class HeartbeatTask:
    """A daemon task (see appliance_agent.daemon): beat, obey the ack, sleep, repeat."""

    name = "heartbeat"

    def __init__(
        self,
        *,
        appliance_id: str,
        settings: HealthSettings,
        monitor: HealthMonitor,
        client: FleetClient,
        drain: DrainController,
        status_file: StatusFile,
        refresh_secrets: Callable[[], None],
        refresh_prefixes: Callable[[str | None], None] | None = None,
        served: ServedReporter | None = None,
        rng: random.Random | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.appliance_id = appliance_id
        self.settings = settings
        self.monitor = monitor
        self.client = client
        self.drain = drain
        self.status_file = status_file
        self.refresh_secrets = refresh_secrets
        # Called with the ack's client prefix version (None from a control plane that has not
        # recorded one for it); it fetches only what it does not hold.
        self.refresh_prefixes = refresh_prefixes
        self.served = served
        # bandit B311: heartbeat backoff spread, not a secret.
        self._rng = rng or random.Random()  # nosec B311
        self._clock = clock

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            stop.wait(self.beat())

    def beat(self) -> float:
        """Send one heartbeat and act on the answer; return seconds until the next one."""
        now = self._clock()
        link = self.monitor.link
        snapshot = self.monitor.snapshot(now)
        try:
            ack = self.client.send_heartbeat(
                build_heartbeat(snapshot, appliance_id=self.appliance_id)
            )
        except ControlPlaneError as exc:
            if link.failed(now, str(exc)):
                logger.warning("heartbeat failed, serving continues as it is: %s", exc)
                message = f"{HEARTBEAT_FAILED} {exc}"
                self.status_file.update(
                    lambda s: s.model_copy(update={"errors": with_error(s.errors, message)})
                )
            else:
                logger.info("heartbeat still failing (%d in a row)", link.consecutive_failures)
        else:
            outage_began = link.succeeded(now)
            if outage_began is not None:
                logger.info("control plane reachable again (failing since %s)", outage_began)
            try:
                self._obey(ack, snapshot, now)
                if any(
                    e.split(" ", 1)[-1].startswith((HEARTBEAT_FAILED, ANSWER_NOT_APPLIED))
                    for e in snapshot.status.errors
                ):
                    # The control plane answered and its answer was applied: those are over.
                    self.status_file.update(
                        lambda s: s.model_copy(update={"errors": _clear_link_errors(s.errors)})
                    )
            except (AgentError, OSError) as exc:
                # For example a secret set nginx refused, or a file the agent may not touch:
                # the old config keeps serving, the heartbeat thread goes on, and the next
                # heartbeat carries the error to the control plane.
                logger.error("could not act on the control plane's answer: %s", exc)
                message = f"{ANSWER_NOT_APPLIED} {exc}"
                self.status_file.update(
                    lambda s: s.model_copy(update={"errors": with_error(s.errors, message)})
                )
            self._report_served(now)
        return next_delay(
            settings=self.settings,
            consecutive_failures=link.consecutive_failures,
            rng=self._rng,
        )

    def _report_served(self, now: datetime) -> None:
        """Served bytes are worth less than the heartbeat: nothing here may stop the next one."""
        if self.served is None:
            return
        try:
            self.served.report(now)
        except Exception:  # a bug or an odd OSError: log it, the heartbeat goes on
            logger.exception("could not report served bytes; trying again after the next beat")

    def _obey(self, ack: HeartbeatAck, snapshot: HealthSnapshot, now: datetime) -> None:
        self.drain.note_control_plane_change(ack.state_changed_at)
        if ack.desired_state is not snapshot.state:
            self.drain.request(ack.desired_state, now=now, reason="ordered by the control plane")
            self.drain.advance(now=now)
        # Prefixes before secrets: a tree rendered for new secrets needs the on-net set.
        if self.refresh_prefixes is not None:
            self.refresh_prefixes(ack.client_prefixes_version)
        wanted, accepted = set(ack.signing_secret_ids), set(snapshot.accepted_secret_ids)
        if (wanted and wanted != accepted) or not accepted:
            logger.info(
                "control plane wants signing secrets %s, nginx accepts %s; fetching",
                sorted(wanted),
                sorted(accepted),
            )
            self.refresh_secrets()


HEARTBEAT_FAILED = "heartbeat failed:"
ANSWER_NOT_APPLIED = "could not apply the control plane's answer:"


def _clear_link_errors(errors: list[str]) -> list[str]:
    return without_errors(without_errors(errors, HEARTBEAT_FAILED), ANSWER_NOT_APPLIED)
