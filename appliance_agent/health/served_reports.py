"""Send the served ledger's reports, after a heartbeat the control plane answered.

One report is in flight at a time: the pending one is sent again, as it is, after every
successful heartbeat until the control plane acknowledges it (a duplicate is acknowledged too).
A new report is sealed once `served_report_interval_s` has passed since the last one. A failed
send is logged (a warning for the first of a run of failures) and counted for /metrics; it never
touches the heartbeat, its backoff or the status file's errors. A report the control plane
refuses as such (400, 413, 422) is dropped with an error log and counted, so that it cannot
block every report after it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from appliance_agent.errors import ControlPlaneError, FleetRejected
from appliance_agent.fleet_client import FleetClient
from appliance_agent.health.served_ledger import ServedLedger
from edgefill_contracts import ServedAck, ServedReport

logger = logging.getLogger(__name__)

# Answers that mean the report itself is refused, so resending it cannot help (an auth or
# server error, by contrast, may pass later).
REFUSED_FOR_GOOD = frozenset({400, 413, 422})


@dataclass(frozen=True)
class ServedStats:
    """What /metrics shows of served reporting."""

    counted_bytes: int
    open_bytes: int
    pending_bytes: int
    send_failures: int
    discarded_reports: int


class ServedReporter:
    def __init__(self, *, ledger: ServedLedger, client: FleetClient, interval_s: float) -> None:
        self.ledger = ledger
        self.client = client
        self.interval_s = interval_s
        self.send_failures = 0
        self.discarded_reports = 0
        self._failing = False

    def report(self, now: datetime) -> ServedAck | None:
        """Send the pending report, or seal and send a new one when due; the ack, or None if
        there was nothing to send or the send failed."""
        if self.ledger.pending is None and not self.ledger.seal_due(
            now, interval_s=self.interval_s
        ):
            return None
        report = self.ledger.seal(now)
        if report is None:
            return None
        try:
            ack = self.client.send_served(report)
        except FleetRejected as exc:
            if exc.status_code not in REFUSED_FOR_GOOD:
                self._failed("sending served report %s failed, it is resent later: %s", report, exc)
                return None
            # The control plane will never take this report (a contract mismatch, say):
            # resending it forever would block every report after it. Drop it, loudly.
            logger.error(
                "the control plane refused served report %s for good, dropping its %d bytes "
                "over %d units: %s",
                report.report_id,
                report.bytes_served,
                len(report.by_unit),
                exc,
            )
            self.ledger.acknowledge(report.report_id)
            self.discarded_reports += 1
            return None
        except ControlPlaneError as exc:
            self._failed("sending served report %s failed, it is resent later: %s", report, exc)
            return None
        if ack.report_id != report.report_id:
            self._failed(
                "sending served report %s got an ack for another report, it is resent later: %s",
                report,
                ack.report_id,
            )
            return None
        self.ledger.acknowledge(report.report_id)
        if self._failing:
            logger.info("served reports are acknowledged again")
        self._failing = False
        logger.info(
            "served report %s acknowledged%s: %d bytes over %d units",
            report.report_id,
            " (duplicate)" if ack.duplicate else "",
            report.bytes_served,
            len(report.by_unit),
        )
        return ack

    def stats(self) -> ServedStats:
        return ServedStats(
            counted_bytes=self.ledger.counted_since_start,
            open_bytes=self.ledger.open_bytes,
            pending_bytes=self.ledger.pending_bytes,
            send_failures=self.send_failures,
            discarded_reports=self.discarded_reports,
        )

    def _failed(self, message: str, report: ServedReport, detail: object) -> None:
        self.send_failures += 1
        if self._failing:
            logger.debug(message, report.report_id, detail)
        else:
            logger.warning(message, report.report_id, detail)
        self._failing = True
