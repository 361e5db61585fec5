"""The nightly fold: each closed day's served reports become unit popularity, exactly once.

Run at the start of every manifest job. A day (UTC) is closed `CLOSE_DELAY` after its
midnight; no report is filed under it after that (served_reports files by day of receipt).
Each closed day not folded yet, oldest first, is summed per unit over every appliance's
reports and folded into the unit's score as views (bytes served / unit size, the catalog's
size of the rendition). Units no longer in the catalog are skipped and counted. A fold
interrupted part-way is simply run again: units remember the last day folded into them, and
the day is marked folded only after all its units are.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from control_plane.popularity.models import StreamedEvent
from control_plane.popularity.served_reports import RETENTION, ServedReportStore
from control_plane.popularity.store import PopularityStore

logger = logging.getLogger(__name__)

CLOSE_DELAY = timedelta(minutes=10)


@dataclass
class FoldResult:
    """What one run folded, for the job's log."""

    days: list[date] = field(default_factory=list)
    reports: int = 0
    units_updated: int = 0
    bytes_served: int = 0
    unknown_units: set[str] = field(default_factory=set)

    def as_log(self) -> dict[str, object]:
        return {
            "days": [d.isoformat() for d in self.days],
            "reports": self.reports,
            "units_updated": self.units_updated,
            "bytes_served": self.bytes_served,
            "unknown_units": len(self.unknown_units),
        }


def last_closed_day(now: datetime) -> date:
    return (now - CLOSE_DELAY).astimezone(UTC).date() - timedelta(days=1)


def fold_served_reports(
    *,
    reports: ServedReportStore,
    popularity: PopularityStore,
    unit_sizes: Mapping[str, int],
    now: datetime,
) -> FoldResult:
    """Fold every closed, unfolded day (at most the retention period back) into popularity."""
    result = FoldResult()
    last = last_closed_day(now)
    oldest_kept = last - RETENTION + timedelta(days=1)
    folded = reports.folded_through()
    day = oldest_kept if folded is None else max(folded + timedelta(days=1), oldest_kept)
    while day <= last:
        totals: Counter[str] = Counter()
        for stored in reports.on_day(day):
            result.reports += 1
            totals.update(stored.report.by_unit)
        events = []
        for unit_id, served in sorted(totals.items()):
            size = unit_sizes.get(unit_id)
            if not size:
                result.unknown_units.add(unit_id)
                continue
            title_id, rendition = unit_id.split("/")
            events.append(
                StreamedEvent(
                    title_id=title_id,
                    rendition=rendition,
                    bytes_streamed=served,
                    unit_bytes=size,
                    at=datetime.combine(day, time(12), tzinfo=UTC),
                )
            )
            result.bytes_served += served
        result.units_updated += popularity.record_served_day(day, events)
        reports.mark_folded(day)
        result.days.append(day)
        day += timedelta(days=1)
    if result.unknown_units:
        logger.warning(
            "served bytes for %d units not in the catalog were skipped (e.g. %s)",
            len(result.unknown_units),
            sorted(result.unknown_units)[:5],
        )
    logger.info("served-report fold: %s", result.as_log())
    return result
