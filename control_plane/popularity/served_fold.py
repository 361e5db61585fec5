"""The fold: each closed day's served reports become unit popularity, exactly once.

A scheduled job of its own (`popularity-fold`, hourly at :05, so the manifest job at :15 places
with what it folded). A day (UTC) is closed `CLOSE_DELAY` after its midnight; no report is
filed under it after that (served_reports files by day of receipt). Each closed day not folded
yet, oldest first and at most FOLD_LOOKBACK back, is summed per unit over every appliance's
reports and added to the unit's score as views (bytes served / the catalog's size of the
rendition). Units no longer in the catalog are skipped and counted; a stored report that no
longer parses is skipped and logged.

An appliance's reports for one day count for at most MAX_APPLIANCE_BYTES_PER_DAY (a 100 Gbit/s
port busy all day): beyond that its counts are scaled down and it is named in the log, so a
broken or compromised box cannot make its units the most popular of the whole fleet.

A fold stopped part-way (a crash, the job's timeout) is simply run again: units remember the
last day folded into them, and a day is marked folded only after all its units are.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from control_plane.catalog.units import units_from_catalog
from control_plane.common.settings import ServiceSettings
from control_plane.popularity.models import UnitPopularity
from control_plane.popularity.served_reports import FOLD_LOOKBACK, ServedReportStore
from control_plane.popularity.store import PopularityStore

logger = logging.getLogger(__name__)

CLOSE_DELAY = timedelta(minutes=10)
MAX_APPLIANCE_BYTES_PER_DAY = 100_000_000_000 // 8 * 86_400  # 100 Gbit/s for 24 h


@dataclass
class FoldResult:
    """What one run folded, for the job's log."""

    days: list[date] = field(default_factory=list)
    reports: int = 0
    units_updated: int = 0
    bytes_served: int = 0
    unknown_units: set[str] = field(default_factory=set)
    capped_appliances: set[str] = field(default_factory=set)

    def as_log(self) -> dict[str, object]:
        return {
            "days": [d.isoformat() for d in self.days],
            "reports": self.reports,
            "units_updated": self.units_updated,
            "bytes_served": self.bytes_served,
            "unknown_units": len(self.unknown_units),
            "capped_appliances": sorted(self.capped_appliances),
        }


def run(settings: ServiceSettings) -> dict[str, object]:
    """Entry point of the scheduled job (ScheduledJob.function)."""
    return fold_served_reports(
        reports=ServedReportStore(settings=settings),
        popularity=PopularityStore(settings=settings),
        unit_sizes={u.unit_id: u.size for u in units_from_catalog(settings)},
        now=datetime.now(UTC),
    ).as_log()


def last_closed_day(now: datetime) -> date:
    return (now - CLOSE_DELAY).astimezone(UTC).date() - timedelta(days=1)


def fold_served_reports(
    *,
    reports: ServedReportStore,
    popularity: PopularityStore,
    unit_sizes: Mapping[str, int],
    now: datetime,
) -> FoldResult:
    """Fold every closed, unfolded day (at most FOLD_LOOKBACK back) into popularity."""
    result = FoldResult()
    last = last_closed_day(now)
    oldest = last - FOLD_LOOKBACK + timedelta(days=1)
    folded = reports.folded_through()
    day = oldest if folded is None else max(folded + timedelta(days=1), oldest)
    while day <= last:
        totals = _day_totals(reports, day, result)
        views = {}
        for unit_id, served in sorted(totals.items()):
            size = unit_sizes.get(unit_id)
            if not size:
                result.unknown_units.add(unit_id)
                continue
            views[unit_id] = UnitPopularity(
                unit_id=unit_id, score=served / size, unit_bytes=size, as_of=day
            )
            result.bytes_served += int(served)
        result.units_updated += popularity.record_served_day(day, views)
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


def _day_totals(reports: ServedReportStore, day: date, result: FoldResult) -> Counter[str]:
    """Bytes per unit over every appliance's reports of `day`, each appliance capped."""
    by_appliance: dict[str, Counter[str]] = defaultdict(Counter)
    for stored in reports.on_day(day):
        result.reports += 1
        by_appliance[stored.appliance_id].update(stored.report.by_unit)
    totals: Counter[str] = Counter()
    for appliance_id, counts in sorted(by_appliance.items()):
        served = sum(counts.values())
        if served > MAX_APPLIANCE_BYTES_PER_DAY:
            scale = MAX_APPLIANCE_BYTES_PER_DAY / served
            logger.warning(
                "%s reported %d bytes served on %s, more than a 100 Gbit/s port sends in a "
                "day; its counts are scaled by %.3g (check the appliance or revoke it)",
                appliance_id,
                served,
                day,
                scale,
            )
            result.capped_appliances.add(appliance_id)
            counts = Counter({u: int(n * scale) for u, n in counts.items()})
        totals.update(counts)
    return totals
