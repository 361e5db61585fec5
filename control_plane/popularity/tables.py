"""The popularity tables (declarative; owned by popularity's registry entry, spec.py)."""

from __future__ import annotations

from control_plane.common.tables import GlobalIndex, KeyAttribute, TableSpec

POPULARITY_TABLE = TableSpec(name="popularity", hash_key=KeyAttribute(name="unit_id"))

# One item per served report an appliance sent (keyed so a resent report is stored once), plus
# the fold's own state item; the by-day index lists a day's reports for the nightly fold.
SERVED_REPORTS_BY_DAY = "by-day"
SERVED_REPORTS_TABLE = TableSpec(
    name="served-reports",
    hash_key=KeyAttribute(name="report_key"),
    indexes=(
        GlobalIndex(
            name=SERVED_REPORTS_BY_DAY,
            hash_key=KeyAttribute(name="day"),
            range_key=KeyAttribute(name="report_key"),
        ),
    ),
    ttl_attribute="expires_at",
)
