"""The placement service's registry entry: its manifest job (a planner and a per-cluster worker)."""

from __future__ import annotations

from control_plane.services import FanOutQueue, ScheduledJob, ServiceSpec

SERVICE = ServiceSpec(
    name="placement",
    jobs=(
        ScheduledJob(
            name="fleet-manifests",
            function="control_plane.placement.manifest_job:run",
            schedule="cron(15 * * * ? *)",  # after the popularity fold at :05
        ),
    ),
    # The job plans; each due cluster is one message, placed and written by its own worker.
    fan_outs=(
        FanOutQueue(
            name="manifest-clusters",  # manifest_job.MANIFEST_FAN_OUT
            handler="control_plane.placement.manifest_job:run_cluster",
        ),
    ),
    writes_manifests=True,
    reads_tables=(
        "catalog-titles",
        "popularity",
        "fleet-sites",
        "fleet-clusters",
        "fleet-health",
        "fleet-signing-secrets",
    ),
    # Each appliance's record notes its newest manifest version (heartbeat acks read it there).
    writes_tables=("fleet-appliances",),
)
