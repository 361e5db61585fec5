"""The fleet service's registry entry (imports no FastAPI)."""

from __future__ import annotations

from control_plane.fleet import tables
from control_plane.fleet.metric_names import FLEET_METRIC_NAMESPACE
from control_plane.services import RouteAuth, RoutePrefix, ScheduledJob, ServiceSpec
from edgefill_contracts.fleet_api import FLEET_PREFIX

SERVICE = ServiceSpec(
    name="fleet",
    app_factory="control_plane.fleet.app:create_app",
    tables=tables.ALL,
    # Appliances' served reports and operators' popularity events land in popularity's tables.
    writes_tables=("served-reports", "popularity"),
    routes=(
        RoutePrefix(prefix=f"{FLEET_PREFIX}/register", auth=RouteAuth.PUBLIC),
        RoutePrefix(prefix=f"{FLEET_PREFIX}/appliances", auth=RouteAuth.APPLIANCE),
        RoutePrefix(prefix=f"{FLEET_PREFIX}/admin", auth=RouteAuth.ADMIN),
        RoutePrefix(prefix=f"{FLEET_PREFIX}/inventory", auth=RouteAuth.ADMIN),
    ),
    jobs=(
        ScheduledJob(
            name="fleet-health-sweep",
            function="control_plane.fleet.health_sweep:run",
            schedule="rate(1 minute)",
        ),
        ScheduledJob(
            name="fleet-key-rotation",
            function="control_plane.fleet.key_rotation:run",
            schedule="cron(30 3 * * ? *)",
        ),
    ),
    reads_manifests=True,  # hands each appliance its manifest's location; placement writes them
    reads_origin=True,  # presigns origin URLs for fills (POST .../origin-urls)
    metric_namespaces=(FLEET_METRIC_NAMESPACE,),
)
