"""The stale-fleet metric: how many registered appliances have stopped heartbeating, published
to CloudWatch each health sweep for the stack's stale-fleet alarm (infra/monitoring.py).

An appliance is stale when it is registered (not merely declared, not retired), not Drained
(an operator took it out of service, e.g. for maintenance), and has been silent for as long as
it takes the health policy to call it unhealthy (K intervals): since its last heartbeat, or
since it registered if it never sent one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from control_plane.common import aws
from control_plane.common.settings import ServiceSettings
from control_plane.fleet.health import HealthPolicy, HealthRecord
from control_plane.fleet.metric_names import (
    FLEET_METRIC_NAMESPACE,
    STACK_DIMENSION,
    STALE_APPLIANCES_METRIC,
)
from control_plane.fleet.models import Appliance, Lifecycle
from edgefill_contracts import ApplianceState

logger = logging.getLogger(__name__)


def stale_appliances(
    appliances: Iterable[Appliance],
    health: Mapping[str, HealthRecord],
    *,
    now: datetime,
    policy: HealthPolicy,
) -> list[str]:
    """Ids of the registered, not Drained appliances silent for K heartbeat intervals or more."""
    silent_for = policy.interval * policy.unhealthy_after
    stale = []
    for appliance in appliances:
        if appliance.lifecycle is not Lifecycle.ACTIVE or appliance.state is ApplianceState.DRAINED:
            continue
        record = health.get(appliance.appliance_id)
        heard = record.last_seen_at if record is not None else None
        # Never heard from: silent since it registered (its state last changed then).
        since = heard or appliance.state_changed_at or appliance.updated_at
        if now - since >= silent_for:
            stale.append(appliance.appliance_id)
    return sorted(stale)


def publish_stale_count(settings: ServiceSettings, count: int, *, now: datetime) -> bool:
    """Put the count under the stack's dimension; False (and an error log) if CloudWatch refused.

    A failed publish leaves a gap, which the alarm reads as breaching: a fleet nobody can see
    is treated like a stale one.
    """
    try:
        aws.cloudwatch(settings).put_metric_data(
            Namespace=FLEET_METRIC_NAMESPACE,
            MetricData=[
                {
                    "MetricName": STALE_APPLIANCES_METRIC,
                    "Dimensions": [{"Name": STACK_DIMENSION, "Value": settings.name_prefix}],
                    "Timestamp": now,
                    "Value": float(count),
                    "Unit": "Count",
                }
            ],
        )
    except (BotoCoreError, ClientError) as exc:
        logger.error("could not publish %s to CloudWatch: %s", STALE_APPLIANCES_METRIC, exc)
        return False
    return True
