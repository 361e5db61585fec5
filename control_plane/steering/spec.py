"""The steering package's registry entry: its snapshot job, deployed as a job function only."""

from __future__ import annotations

from control_plane.services import ScheduledJob, ServiceSpec

SERVICE = ServiceSpec(
    name="steering",
    jobs=(
        ScheduledJob(
            name="steering-snapshot",
            function="control_plane.steering.snapshot_job:run",
            # Once a minute (EventBridge's finest); each run compiles every
            # EDGEFILL_STEERING_SNAPSHOT_INTERVAL_S for EDGEFILL_STEERING_SNAPSHOT_RUN_S.
            schedule="rate(1 minute)",
        ),
    ),
    writes_steering_snapshot=True,
    # Each appliance's held-units bitmap is over its applied manifest's unit order (units file).
    reads_manifests=True,
    reads_tables=(
        "fleet-sites",
        "fleet-clusters",
        "fleet-appliances",
        "fleet-health",
        "fleet-signing-secrets",
    ),
)
