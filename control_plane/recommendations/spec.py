"""The recommendations service's registry entry and tables (no FastAPI import here)."""

from __future__ import annotations

from control_plane.common.tables import KeyAttribute, TableSpec
from control_plane.services import RouteAuth, RoutePrefix, ScheduledJob, ServiceSpec

EVENTS_TABLE = TableSpec(
    name="recs-events",
    hash_key=KeyAttribute(name="profile_key"),  # "<account_id>#<profile_id>"
    range_key=KeyAttribute(name="event_id"),  # "<iso time>#<random>": sorts by time
    ttl_attribute="expires_at",
)
PICKS_TABLE = TableSpec(name="recs-picks", hash_key=KeyAttribute(name="profile_key"))
POPULAR_TABLE = TableSpec(name="recs-popular", hash_key=KeyAttribute(name="region"))

SERVICE = ServiceSpec(
    name="recommendations",
    app_factory="control_plane.recommendations.app:create_app",
    tables=(EVENTS_TABLE, PICKS_TABLE, POPULAR_TABLE),
    routes=(RoutePrefix(prefix="/recommendations", auth=RouteAuth.SUBSCRIBER),),
    jobs=(
        ScheduledJob(
            name="recommendations-nightly",
            function="control_plane.recommendations.batch:run_nightly",
            schedule="cron(30 0 * * ? *)",
        ),
    ),
    reads_tables=("auth-profiles", "catalog-titles"),
)
