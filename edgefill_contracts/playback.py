"""The playback response: ranked, signed, expiring URLs for one title rendition."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class PlaybackUrl(BaseModel):
    """One place to play from; `appliance_id` is None for the origin fallback."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    appliance_id: str | None
    expires_at: datetime


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
    """Try `urls` in order; a miss on one moves the player to the next, `origin` last."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title_id: str
    rendition: str
    playlist: str = Field(description="Path of the playlist relative to each URL's base.")
    files: list[str] = Field(
        default_factory=list,
        description="Every file of the rendition (playlist first), relative to each URL's base.",
    )
    urls: list[PlaybackUrl]
    origin: PlaybackUrl
    origin_files: dict[str, str] = Field(
        default_factory=dict,
        description="The origin fallback of each file in `files`, by the same relative path: "
        "a private bucket needs a signature per object, so relative URLs cannot resolve there.",
    )
    session: PlaybackSessionLinks | None = Field(
        default=None,
        description="Per-session HLS and DASH manifests for standard players (every rendition "
        "the plan allows, with Content Steering): what every edgefill client plays, the lab's "
        "included. The fields above (one rendition's signed directories and presigned files) "
        "predate sessions; nothing of edgefill reads them any more and they are to be removed.",
    )
