"""The fill window: the daily off-peak period, in site-local time, when appliances fill."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator, model_validator


class FillWindow(BaseModel):
    """Daily window `[start, end)` in the site's IANA time zone; may cross midnight."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time = time(2, 0)
    end: time = time(14, 0)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as 'Europe/Amsterdam'"
            ) from exc
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> FillWindow:
        if self.start == self.end:
            raise ValueError("fill window start and end are equal: the window would be empty")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("fill window times are site-local: give them without an offset")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
