"""Served reports as the control plane keeps them: stored once each, listed per day for the fold.

A report is keyed by ``<appliance_id>#<report_id>`` and written only if that key is new, so an
appliance that resends a report whose acknowledgement it never got is counted once. The day a
report is filed under is the control plane's day of receipt (UTC): a day closes at midnight and
receives nothing after that, which lets the fold treat each closed day as final. Reports expire
(DynamoDB TTL) after `RETENTION`, long after the fold has read them; an appliance that resends
a report after that (offline for a month with the ack lost) has it counted a second time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from control_plane.common.documents import DocumentTable
from control_plane.common.errors import Conflict
from control_plane.common.settings import ServiceSettings
from control_plane.popularity.tables import SERVED_REPORTS_BY_DAY, SERVED_REPORTS_TABLE
from edgefill_contracts.served import ServedAck, ServedReport

# Reports are kept (and a resent one recognised) for RETENTION; the fold looks back at most
# FOLD_LOOKBACK, well inside it, so no day it reads has begun to expire.
RETENTION = timedelta(days=30)
FOLD_LOOKBACK = timedelta(days=12)
_FOLD_STATE_KEY = "#fold-state"  # not an appliance id ('#' is outside their alphabet)


class StoredServedReport(BaseModel):
    """One report as received: whose, when (control plane clock) and its counts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    appliance_id: str
    received_at: datetime
    report: ServedReport

    @property
    def report_key(self) -> str:
        return f"{self.appliance_id}#{self.report.report_id}"

    @property
    def day(self) -> date:
        return self.received_at.date()


class FoldState(BaseModel):
    """The last day whose reports are folded into every unit's popularity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    report_key: str = Field(default=_FOLD_STATE_KEY, pattern=f"^{_FOLD_STATE_KEY}$")
    folded_through: date


class ServedReportStore:
    """Stores each (appliance, report) once; lists a day's reports; keeps the fold's state."""

    def __init__(self, *, settings: ServiceSettings) -> None:
        self._reports = DocumentTable(
            settings=settings,
            spec=SERVED_REPORTS_TABLE,
            model=StoredServedReport,
            key_of=lambda r: {"report_key": r.report_key},
            attributes_of=lambda r: {
                "day": r.day.isoformat(),
                "expires_at": int((r.received_at + RETENTION).timestamp()),
            },
        )
        self._state = DocumentTable(
            settings=settings,
            spec=SERVED_REPORTS_TABLE,
            model=FoldState,
            key_of=lambda s: {"report_key": s.report_key},
        )

    def record(self, *, appliance_id: str, report: ServedReport, now: datetime) -> ServedAck:
        """Store the report unless this appliance already sent one with its id."""
        stored = StoredServedReport(appliance_id=appliance_id, received_at=now, report=report)
        try:
            self._reports.create(stored, what=f"served report {stored.report_key}")
        except Conflict:
            return ServedAck(report_id=report.report_id, duplicate=True)
        return ServedAck(report_id=report.report_id)

    def on_day(self, day: date) -> Iterator[StoredServedReport]:
        """Every report received on `day` (UTC)."""
        return self._reports.query_index(
            SERVED_REPORTS_BY_DAY, "day", day.isoformat(), skip_invalid=True
        )

    def folded_through(self) -> date | None:
        stored = self._state.get({"report_key": _FOLD_STATE_KEY})
        return None if stored is None else stored.doc.folded_through

    def mark_folded(self, day: date) -> None:
        """Record that every report of `day` and before is folded (never moves backwards)."""
        state = FoldState(folded_through=day)
        self._state.upsert(
            {"report_key": _FOLD_STATE_KEY},
            initial=state,
            change=lambda old: old if old.folded_through >= day else state,
            what="the served-report fold state",
        )
