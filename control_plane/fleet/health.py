"""Appliance health with damping: unhealthy after K of the last N intervals went bad, healthy
again after M good ones in a row, so one lost heartbeat never moves traffic and nothing flaps.

An interval is good when a heartbeat arrived in it reporting no errors, bad when the heartbeat
reported errors or none arrived within one and a half intervals. Silence is counted lazily: `observe_silence` turns the time
since the last counted moment into missed intervals, so the steering view and the scheduled
stale check reach the same verdict without a write per interval.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgefill_contracts.heartbeat import Heartbeat

DISK_WARNING_FRACTION = 0.90
DISK_ERROR_FRACTION = 0.98


class HealthStatus(StrEnum):
    OK = "OK"
    WARNING = "Warning"
    ERROR = "Error"
    UNKNOWN = "Unknown"


_SEVERITY = {
    HealthStatus.OK: 0,
    HealthStatus.UNKNOWN: 1,
    HealthStatus.WARNING: 2,
    HealthStatus.ERROR: 3,
}


def worst(statuses: list[HealthStatus]) -> HealthStatus:
    """The overall status: the worst component wins (OK < Unknown < Warning < Error)."""
    return max(statuses, key=_SEVERITY.__getitem__, default=HealthStatus.UNKNOWN)


class HealthPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The agent's heartbeat_interval_s (appliance_agent.health.settings): 15 s, jitter +-20%.
    interval_seconds: float = Field(default=15.0, gt=0, le=3600)
    window: int = Field(default=5, ge=1, le=64, description="N: intervals remembered")
    unhealthy_after: int = Field(default=3, ge=1, le=64, description="K bad of the last N")
    healthy_after: int = Field(default=3, ge=1, le=64, description="M good in a row")

    @model_validator(mode="after")
    def _fits_window(self) -> HealthPolicy:
        if self.unhealthy_after > self.window or self.healthy_after > self.window:
            raise ValueError(
                f"unhealthy_after ({self.unhealthy_after}) and healthy_after "
                f"({self.healthy_after}) must not exceed the window ({self.window})"
            )
        return self

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=self.interval_seconds)


class Outcome(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    good: bool
    why: str = Field(max_length=300)


class HealthRecord(BaseModel):
    """What the control plane believes about one appliance's health, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    appliance_id: str
    healthy: bool = False
    reason: str = "no heartbeat yet"
    outcomes: list[Outcome] = Field(default_factory=list, description="Oldest first, at most N.")
    counted_until: datetime | None = None
    last_heartbeat: Heartbeat | None = None
    last_seen_at: datetime | None = None
    components: dict[str, HealthStatus] = Field(default_factory=dict)
    status: HealthStatus = HealthStatus.UNKNOWN


def observe_heartbeat(
    record: HealthRecord, *, heartbeat: Heartbeat, now: datetime, policy: HealthPolicy
) -> HealthRecord:
    """Count the silence before this heartbeat, then the heartbeat itself."""
    record = observe_silence(record, now=now, policy=policy)
    if heartbeat.errors:
        outcome = Outcome(good=False, why=f"agent reported: {heartbeat.errors[0][:200]}")
    else:
        outcome = Outcome(good=True, why="heartbeat ok")
    record = record.model_copy(
        update={"last_heartbeat": heartbeat, "last_seen_at": now, "counted_until": now}
    )
    return _judge(record, [outcome], now=now, policy=policy)


def observe_silence(record: HealthRecord, *, now: datetime, policy: HealthPolicy) -> HealthRecord:
    """Count every whole interval since the last counted moment as a missed heartbeat."""
    if record.counted_until is None:
        return _with_components(record, now=now, policy=policy)
    # Heartbeats jitter: an interval counts as missed only once half an interval more passed.
    missed = int((now - record.counted_until - policy.interval / 2) / policy.interval)
    if missed <= 0:
        return _with_components(record, now=now, policy=policy)
    counted_until = record.counted_until + missed * policy.interval
    silent_for = int((now - record.counted_until).total_seconds())
    outcome = Outcome(good=False, why=f"no heartbeat for {silent_for} s")
    record = record.model_copy(update={"counted_until": counted_until})
    return _judge(record, [outcome] * min(missed, policy.window), now=now, policy=policy)


def _judge(
    record: HealthRecord, new: list[Outcome], *, now: datetime, policy: HealthPolicy
) -> HealthRecord:
    outcomes = [*record.outcomes, *new][-policy.window :]
    bad = [o for o in outcomes if not o.good]
    healthy, reason = record.healthy, record.reason
    if healthy and len(bad) >= policy.unhealthy_after:
        healthy = False
        reason = f"{len(bad)} of the last {len(outcomes)} intervals bad; latest: {bad[-1].why}"
    elif not healthy:
        recent = outcomes[-policy.healthy_after :]
        if len(recent) == policy.healthy_after and all(o.good for o in recent):
            healthy, reason = True, f"{policy.healthy_after} good intervals in a row"
        elif bad:
            reason = f"unhealthy; latest: {bad[-1].why}"
    updated = record.model_copy(update={"outcomes": outcomes, "healthy": healthy, "reason": reason})
    return _with_components(updated, now=now, policy=policy)


def _with_components(record: HealthRecord, *, now: datetime, policy: HealthPolicy) -> HealthRecord:
    components = component_statuses(record, now=now, policy=policy)
    return record.model_copy(
        update={"components": components, "status": worst(list(components.values()))}
    )


def component_statuses(
    record: HealthRecord, *, now: datetime, policy: HealthPolicy
) -> dict[str, HealthStatus]:
    """Per-component status; the overall status is the worst of these."""
    heartbeat = record.last_heartbeat
    if heartbeat is None or record.last_seen_at is None:
        return {"heartbeat": HealthStatus.UNKNOWN}
    if not record.healthy:
        liveness = HealthStatus.ERROR
    elif now - record.last_seen_at > policy.interval * 2:
        liveness = HealthStatus.WARNING
    else:
        liveness = HealthStatus.OK
    disk = heartbeat.disk
    used = disk.used_bytes / disk.total_bytes if disk.total_bytes else 1.0
    disk_status = (
        HealthStatus.ERROR
        if used >= DISK_ERROR_FRACTION
        else HealthStatus.WARNING
        if used >= DISK_WARNING_FRACTION
        else HealthStatus.OK
    )
    fill_status = (
        HealthStatus.WARNING
        if heartbeat.fill.last_result in ("failed", "partial")
        else HealthStatus.OK
    )
    agent_status = HealthStatus.ERROR if heartbeat.errors else HealthStatus.OK
    # Holdings unreadable: an old agent's missing-key list was cut short (no bitmap).
    unreadable = heartbeat.held.missing_truncated and heartbeat.held.held_units is None
    held_status = HealthStatus.WARNING if unreadable else HealthStatus.OK
    return {
        "heartbeat": liveness,
        "disk": disk_status,
        "fill": fill_status,
        "agent": agent_status,
        "held": held_status,
    }
