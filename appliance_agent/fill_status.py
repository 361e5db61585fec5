"""The fill's status-file side: a FillObserver that records progress and holdings.

Progress is written at the start, at most once a second while objects finish, and at the end;
holdings (a pass over the manifest and the index) at the start, every 30 seconds, and at the
end. A fill of a manifest already held whole (`FillReport.skipped`) writes nothing.
"""

from __future__ import annotations

import threading
import time

from appliance_agent.clock import utc_now
from appliance_agent.delta import summarize_holdings
from appliance_agent.fill import FillReport
from appliance_agent.status import (
    Activity,
    AgentStatus,
    StatusFile,
    holdings_update,
    with_error,
)
from appliance_agent.store import Store
from edgefill_contracts import FillProgress, Manifest

STATUS_WRITE_INTERVAL_S = 1.0
HOLDINGS_WRITE_INTERVAL_S = 30.0
REPORTED_FILL_ERRORS = 5


class FillStatusRecorder:
    """Writes one fill's progress and holdings to the status file; thread-safe."""

    def __init__(self, *, status: StatusFile, store: Store, manifest: Manifest) -> None:
        self._status = status
        self._store = store
        self._manifest = manifest
        self._lock = threading.Lock()
        self._bytes_done = 0
        self._total_bytes = 0
        self._last_status_write = 0.0
        self._last_holdings_write = time.monotonic()

    def started(self, *, objects: int, total_bytes: int, report: FillReport) -> None:
        if report.skipped:
            return
        with self._lock:
            self._total_bytes = total_bytes
        self._write(report, running=True)

    def advanced(self, nbytes: int) -> None:
        with self._lock:
            self._bytes_done += nbytes

    def object_finished(self, key: str, *, ok: bool, report: FillReport) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_status_write < STATUS_WRITE_INTERVAL_S:
                return
            self._last_status_write = now
            recount = now - self._last_holdings_write >= HOLDINGS_WRITE_INTERVAL_S
            if recount:
                self._last_holdings_write = now
        self._write(report, running=True, recount_holdings=recount)

    def finished(self, report: FillReport) -> None:
        if report.skipped:
            return
        self._write(report, running=False)

    def _write(self, report: FillReport, *, running: bool, recount_holdings: bool = True) -> None:
        holdings = (
            summarize_holdings(self._manifest, self._store.index.entries())
            if recount_holdings
            else None
        )
        with self._lock:
            bytes_done, total_bytes = self._bytes_done, self._total_bytes
        manifest = self._manifest

        def change(current: AgentStatus) -> AgentStatus:
            errors = current.errors
            if not running:
                for message in report.errors[:REPORTED_FILL_ERRORS]:
                    errors = with_error(errors, message)
            fill = FillProgress(
                running=running,
                objects_total=report.objects_missing_at_start,
                objects_done=report.objects_fetched,
                bytes_total=total_bytes,
                bytes_done=bytes_done,
                bytes_from_peers=report.bytes_from_peers,
                bytes_from_origin=report.bytes_from_origin,
                last_result=current.fill.last_result if running else report.result,
                last_finished_at=current.fill.last_finished_at if running else utc_now(),
            )
            update: dict[str, object] = {
                "activity": Activity.FILLING if running else Activity.IDLE,
                "fill": fill,
                "errors": errors,
            }
            if holdings is not None:
                update.update(manifest_version=manifest.version, **holdings_update(holdings))
            return current.model_copy(update=update)

        self._status.update(change)
