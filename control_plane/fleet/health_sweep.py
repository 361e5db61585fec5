"""The scheduled health sweep: silent appliances turn unhealthy in the table, with the reason,
and the count of stale appliances goes to CloudWatch for the stale-fleet alarm.

Steering and the inventory already judge silence on read (health.observe_silence); the sweep
writes that verdict down, so the health table and the audit trail show when and why an
appliance that stopped talking was taken out of steering.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from control_plane.common.settings import ServiceSettings
from control_plane.fleet.context import FleetContext
from control_plane.fleet.health import HealthRecord, observe_silence
from control_plane.fleet.lifecycle import record_health_flip
from control_plane.fleet.models import Lifecycle
from control_plane.fleet.stale_metric import publish_stale_count, stale_appliances

logger = logging.getLogger(__name__)


def run(settings: ServiceSettings) -> dict[str, object]:
    """Entry point of the scheduled job (ScheduledJob.function)."""
    return sweep(context=FleetContext.from_settings(settings), now=datetime.now(UTC))


def sweep(*, context: FleetContext, now: datetime) -> dict[str, object]:
    """Persist every health verdict that silence changed, then publish the stale count; returns
    the appliances that flipped, the stale ones, and whether the metric went out."""
    appliances = list(context.store.appliances.scan())
    retired = {a.appliance_id for a in appliances if a.lifecycle is Lifecycle.RETIRED}
    records = list(context.store.health.scan())
    flipped: list[str] = []
    for record in records:
        if record.appliance_id in retired:
            continue
        judged = observe_silence(record, now=now, policy=context.health_policy)
        if judged.healthy == record.healthy:
            continue

        def persist(current: HealthRecord) -> HealthRecord:
            # A heartbeat may have landed since the scan: judge the stored record again.
            return observe_silence(current, now=now, policy=context.health_policy)

        stored = context.store.health.update(
            {"appliance_id": record.appliance_id}, persist, what="health"
        )
        if stored.healthy != record.healthy:
            flipped.append(record.appliance_id)
            record_health_flip(
                context.store,
                appliance_id=record.appliance_id,
                healthy=stored.healthy,
                reason=stored.reason,
                now=now,
            )
    if flipped:
        logger.warning("health sweep: %d appliances changed health: %s", len(flipped), flipped)
    stale = stale_appliances(
        appliances,
        {r.appliance_id: r for r in records},
        now=now,
        policy=context.health_policy,
    )
    if stale:
        logger.warning("health sweep: %d appliances stopped heartbeating: %s", len(stale), stale)
    published = publish_stale_count(context.settings, len(stale), now=now)
    return {"flipped": flipped, "stale": stale, "published": published}
