"""Drain: Serving → Draining → Drained, as the control plane orders or `appliance-agent drain`.

Draining changes nothing in nginx: the control plane stops steering new sessions here (it sees
the state in the heartbeat) while nginx keeps serving the connections in flight. The appliance
is Drained once nginx's active connections fall to a threshold, or when the timeout passes.
Serving again (undrain) is allowed from either state. The state survives restarts in a file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, ValidationError

from appliance_agent.atomic_file import write_atomically
from appliance_agent.serve.errors import DrainStateError
from appliance_agent.serve.settings import DrainSettings
from edgefill_contracts import ApplianceState

logger = logging.getLogger(__name__)


class DrainRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    state: ApplianceState = ApplianceState.SERVING
    since: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    reason: str = "initial"
    # The control plane's newest `state_changed_at` the agent has heard (from heartbeat acks),
    # and the one it knew when it entered `state`; heartbeats report the latter as state_basis.
    known_change: datetime | None = None
    basis: datetime | None = None


class DrainController:
    """Owns the state file; `active_connections` reads nginx's stub_status."""

    def __init__(self, settings: DrainSettings, *, active_connections: Callable[[], int]) -> None:
        self.settings = settings
        self._active_connections = active_connections

    def current(self) -> DrainRecord:
        try:
            raw = self.settings.state_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return DrainRecord()
        try:
            return DrainRecord.model_validate_json(raw)
        except ValidationError as exc:
            raise DrainStateError(
                f"drain state file {self.settings.state_file} is corrupt; delete it to start as "
                "Serving, or run `appliance-agent drain` to drain again"
            ) from exc

    def note_control_plane_change(self, changed_at: datetime | None) -> None:
        """Remember the control plane's newest state change (written only when it moves)."""
        record = self.current()
        if changed_at is not None and changed_at != record.known_change:
            self._save(record.model_copy(update={"known_change": changed_at}))

    def request(self, desired: ApplianceState, *, now: datetime, reason: str) -> DrainRecord:
        """Apply an order: Serving undrains; Draining or Drained starts a drain if serving."""
        record = self.current()
        if desired is ApplianceState.SERVING:
            if record.state is ApplianceState.SERVING:
                return record
            return self._save(self._next(record, ApplianceState.SERVING, now, reason))
        if record.state is ApplianceState.SERVING:
            return self._save(self._next(record, ApplianceState.DRAINING, now, reason))
        return record  # already draining or drained: the drain's clock keeps running

    def advance(self, *, now: datetime) -> DrainRecord:
        """Draining becomes Drained when connections are few enough or the timeout has passed."""
        record = self.current()
        if record.state is not ApplianceState.DRAINING:
            return record
        elapsed = (now - record.since).total_seconds()
        try:
            active = self._active_connections()
        except OSError as exc:
            logger.warning("cannot read nginx's active connections (%s); waiting for timeout", exc)
            active = None
        if active is not None and active <= self.settings.active_connections_threshold:
            reason = f"{active} active connections <= {self.settings.active_connections_threshold}"
        elif elapsed >= self.settings.timeout_s:
            reason = f"drain timeout of {self.settings.timeout_s:.0f} s passed"
        else:
            return record
        logger.info("drained: %s", reason)
        # Drained finishes the same drain: it keeps the basis the drain began on.
        return self._save(
            record.model_copy(
                update={"state": ApplianceState.DRAINED, "since": now, "reason": reason}
            )
        )

    @staticmethod
    def _next(
        record: DrainRecord, state: ApplianceState, now: datetime, reason: str
    ) -> DrainRecord:
        return DrainRecord(
            state=state,
            since=now,
            reason=reason,
            known_change=record.known_change,
            basis=record.known_change,
        )

    def drain_until_done(
        self,
        *,
        reason: str,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
        poll_s: float = 1.0,
    ) -> DrainRecord:
        """Start a drain and wait for Drained (the timeout bounds the wait)."""
        record = self.request(ApplianceState.DRAINING, now=clock(), reason=reason)
        while record.state is ApplianceState.DRAINING:
            sleep(poll_s)
            record = self.advance(now=clock())
        return record

    def _save(self, record: DrainRecord) -> DrainRecord:
        write_atomically(self.settings.state_file, record.model_dump_json())
        logger.info("appliance state is now %s (%s)", record.state.value, record.reason)
        return record
