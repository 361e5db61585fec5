"""The placement service's registry entry: its manifest job, deployed as a job function only."""

from __future__ import annotations

from control_plane.services import ScheduledJob, ServiceSpec

SERVICE = ServiceSpec(
    name="placement",
    jobs=(
        ScheduledJob(
            name="fleet-manifests",
            function="control_plane.placement.manifest_job:run",
            schedule="cron(15 * * * ? *)",  # after the popularity fold at :05
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
