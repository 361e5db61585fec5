"""Viewing events and recommendation lists."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, computed_field

from control_plane.catalog.models import TitleId


class EventKind(StrEnum):
    PLAY = "play"
    PROGRESS = "progress"
    FINISH = "finish"


class ViewingEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title_id: TitleId
    kind: EventKind
    position_s: int = Field(default=0, ge=0, le=24 * 3600)


class ViewingEvent(ViewingEventIn):
    account_id: str
    profile_id: str
    region: str
    at: datetime


class ReasonKind(StrEnum):
    BECAUSE_YOU_WATCHED = "because_you_watched"
    POPULAR_IN_REGION = "popular_in_region"


class Reason(BaseModel):
    kind: ReasonKind
    title_id: str | None = Field(default=None, description="The watched title, for 'because'.")
    title_name: str | None = None
    region: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def text(self) -> str:
        """What a client shows: "Because you watched Alpha", "Popular in US"."""
        if self.kind is ReasonKind.BECAUSE_YOU_WATCHED:
            return f"Because you watched {self.title_name or self.title_id}"
        return f"Popular in {self.region}"


class Pick(BaseModel):
    title_id: str
    score: float
    reason: Reason


class PickList(BaseModel):
    profile_id: str
    generated_at: datetime | None = Field(description="None when the list is a cold start.")
    picks: list[Pick]
