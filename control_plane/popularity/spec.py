"""The popularity service's registry entry: its tables and its hourly fold, a job function only."""

from __future__ import annotations

from control_plane.popularity.tables import POPULARITY_TABLE, SERVED_REPORTS_TABLE
from control_plane.services import ScheduledJob, ServiceSpec

SERVICE = ServiceSpec(
    name="popularity",
    tables=(POPULARITY_TABLE, SERVED_REPORTS_TABLE),
    jobs=(
        ScheduledJob(
            name="popularity-fold",
            function="control_plane.popularity.served_fold:run",
            schedule="cron(5 * * * ? *)",
        ),
    ),
    reads_tables=("catalog-titles",),  # unit sizes, for views
)
