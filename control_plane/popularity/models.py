"""Popularity events and scores."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from edgefill_contracts.object_key import content_unit, validate_object_key

MAX_EVENTS_PER_BATCH = 500


class StreamedEvent(BaseModel):
    """Bytes of one unit streamed to clients (from playback or appliance serving logs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")
    rendition: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")
    bytes_streamed: int = Field(ge=0, le=1 << 50)
    unit_bytes: int = Field(gt=0, le=1 << 50, description="Size of the whole rendition.")
    at: datetime

    @property
    def unit_id(self) -> str:
        return validate_object_key(content_unit(self.title_id, self.rendition))


class StreamedEventBatch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    events: list[StreamedEvent] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class UnitPopularity(BaseModel):
    """A unit's decayed score as of `as_of` (views: bytes streamed / unit size)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    unit_id: str
    score: float = Field(ge=0)
    unit_bytes: int = Field(ge=0)
    as_of: date
    served_through: date | None = Field(
        default=None,
        description="The last day of appliance served reports folded in; a fold of that day "
        "or an earlier one skips this unit, so re-running a fold never counts a day twice.",
    )
