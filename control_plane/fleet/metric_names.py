"""Names of the fleet's CloudWatch metrics, shared by the publisher and infra's alarms."""

from __future__ import annotations

FLEET_METRIC_NAMESPACE = "Edgefill/Fleet"
STALE_APPLIANCES_METRIC = "StaleAppliances"
# Each stack's metrics carry its name prefix under this dimension.
STACK_DIMENSION = "Stack"
