"""Served reports: the bytes an appliance sent clients per content unit, for popularity.

The agent counts, from nginx's access log, the body bytes it served per unit
(``<title_id>/<rendition>``, edgefill_contracts.object_key.unit_of_key of the logged object).
Every `served_report_interval_s` it seals what it counted into one report with a fresh
`report_id` and sends it, the same report again until the control plane acknowledges it,
with only one report in flight at a time:

    POST {FLEET_PREFIX}/appliances/{id}/served      ServedReport -> ServedAck

The control plane stores a report once per (appliance, report_id): a resent report is
acknowledged as a duplicate and counted once. Popularity folds the stored reports of each
closed day into unit scores (views = bytes served / unit size), so a unit's score follows
what subscribers actually watched on the appliances.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgefill_contracts.object_key import UnitId

MAX_UNITS_PER_REPORT: Final = 2_000
MAX_UNIT_BYTES: Final = 1 << 50  # 1 PiB per unit and report: far above any real interval
# A stored report must fit one DynamoDB item (400 KB): unit ids are bounded in total, counting
# each entry as its id plus the JSON around a count.
MAX_REPORT_UNIT_CHARS: Final = 300_000
_ENTRY_OVERHEAD_CHARS: Final = 24


def report_entry_chars(unit_id: str) -> int:
    """What one `by_unit` entry counts against MAX_REPORT_UNIT_CHARS."""
    return len(unit_id) + _ENTRY_OVERHEAD_CHARS


ReportId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$", description="uuid4 hex")]


class ServedReport(BaseModel):
    """Body bytes served per unit since the previous report (each count at least 1 byte)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    report_id: ReportId
    sealed_at: datetime = Field(description="When the agent sealed the report (its clock).")
    by_unit: dict[UnitId, Annotated[int, Field(ge=1, le=MAX_UNIT_BYTES)]] = Field(
        min_length=1, max_length=MAX_UNITS_PER_REPORT
    )

    @field_validator("by_unit")
    @classmethod
    def _fits_one_item(cls, value: dict[str, int]) -> dict[str, int]:
        chars = sum(report_entry_chars(unit) for unit in value)
        if chars > MAX_REPORT_UNIT_CHARS:
            raise ValueError(
                f"the unit ids take {chars} characters; a report holds at most "
                f"{MAX_REPORT_UNIT_CHARS}: send the rest in the next report"
            )
        return value

    @property
    def bytes_served(self) -> int:
        return sum(self.by_unit.values())


class ServedAck(BaseModel):
    """The control plane holds the report; `duplicate` when it already had it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    report_id: ReportId
    duplicate: bool = False
