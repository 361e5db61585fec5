"""The playback answer: a session a standard player opens (HLS and DASH with Content Steering)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class PlaybackSessionLinks(BaseModel):
    """What a standard player opens: per-session HLS and DASH manifests with Content Steering.

    Every URL carries the session (no subscriber token needed) and stops working at
    `expires_at`. `pathways` are the appliance ids steering chose, in rank order, then
    ``origin``: HLS `PATHWAY-ID`s and DASH `serviceLocation`s.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    hls_url: str
    dash_url: str
    hls_steering_url: str
    dash_steering_url: str
    pathways: list[str]
    expires_at: datetime


class PlaybackResponse(BaseModel):
    """One play: the session's manifests, and which renditions they offer.

    Of constant size whatever the title's length: no per-file URL rides in it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    title_id: str
    rendition: str = Field(
        description="The highest rendition of the session: the plan's ceiling, or the one asked "
        "for (a player adapts below it, never above)."
    )
    renditions: list[str] = Field(
        min_length=1, description="Every rendition the session's manifests offer, lowest first."
    )
    session: PlaybackSessionLinks
