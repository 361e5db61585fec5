"""Starting playback: who, what, whether allowed, which rendition, from where; then record it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from control_plane.auth.profiles import ProfileStore
from control_plane.auth.tokens import Subscriber
from control_plane.billing.entitlement import EntitlementReader
from control_plane.catalog.models import Rendition, Title
from control_plane.common.rendezvous_hash import stable_id_residue
from control_plane.playback.errors import (
    MaturityRestricted,
    NotEntitled,
    RenditionMissing,
    RenditionNotAllowed,
)
from control_plane.playback.origin_playlists import PlaylistReader
from control_plane.playback.session import (
    MAX_PATHWAYS,
    ORIGIN_PATHWAY,
    PlaybackSession,
    SessionSigner,
)
from control_plane.playback.title_cache import TitleCache
from control_plane.recommendations.events import EventStore
from control_plane.recommendations.models import EventKind, ViewingEvent
from control_plane.signing.origin import OriginSigner
from control_plane.steering import FleetView, explain_ranking, rank_appliances
from edgefill_contracts import PlaybackResponse, PlaybackSessionLinks
from edgefill_contracts.object_key import content_unit

logger = logging.getLogger(__name__)

URL_TTL = timedelta(hours=6)
# How often a playing player asks the steering server again: a drained or failed appliance
# loses its players within this (plus the snapshot's refresh).
STEERING_TTL_S = 30


class FleetViews(Protocol):
    """The current fleet as steering sees it (the steering snapshot: SteeringSnapshotCache)."""

    def current(self) -> FleetView: ...


# Names the route builds a session's URLs with (its token and the route name).
SessionUrl = Callable[[str, str], str]


@dataclass(frozen=True)
class Playback:
    profiles: ProfileStore
    entitlements: EntitlementReader
    titles: TitleCache
    fleet: FleetViews
    origin: OriginSigner
    events: EventStore
    sessions: SessionSigner
    playlists: PlaylistReader
    url_ttl: timedelta = URL_TTL
    steering_ttl_s: int = STEERING_TTL_S
    decision_log_every: int = 0


def allowed_renditions(title: Title, *, max_rendition: str) -> tuple[Rendition, ...]:
    """Every rendition of `title` the plan's ceiling allows, lowest first."""
    ceiling = int(max_rendition[:-1])
    return tuple(
        sorted((r for r in title.renditions if r.height <= ceiling), key=lambda r: r.height)
    )


def session_renditions(
    title: Title, *, requested: str | None, max_rendition: str
) -> tuple[Rendition, ...]:
    """The renditions a session offers, lowest first: all the plan allows, up to `requested`.

    A requested rendition is a ceiling (a viewer who picks 720p is never sent 1080p; the
    player still adapts below it). Raises RenditionMissing when the title has no such
    rendition (or none within the plan), RenditionNotAllowed when the plan stops below it.
    """
    allowed = allowed_renditions(title, max_rendition=max_rendition)
    if requested is not None:
        rendition = title.rendition(requested)
        if rendition is None:
            offered = ", ".join(r.name for r in title.renditions) or "none"
            raise RenditionMissing(f"{title.title_id} has no {requested}; it offers: {offered}")
        if rendition not in allowed:
            raise RenditionNotAllowed(
                f"your plan streams up to {max_rendition}; change plan for {requested}"
            )
        allowed = tuple(r for r in allowed if r.height <= rendition.height)
    if not allowed:
        raise RenditionMissing(
            f"{title.title_id} has no rendition at or below your plan's {max_rendition}"
        )
    return allowed


def start_session(
    sessions: SessionSigner,
    *,
    view: FleetView,
    title: Title,
    renditions: tuple[Rendition, ...],
    client_ip: str,
    sticky_id: str,
    expires: int,
    session_url: SessionUrl,
    decision_log_every: int = 0,
) -> PlaybackSessionLinks:
    """Rank pathways for every allowed rendition at once and seal them into a session token."""
    units = tuple(content_unit(title.title_id, r.name) for r in renditions)
    ranking = rank_appliances(
        view=view,
        client_ip=client_ip,
        units=units,
        session_id=sticky_id,
        max_appliances=MAX_PATHWAYS,
    )
    session = PlaybackSession(
        session_id=uuid.uuid4().hex,
        title_id=title.title_id,
        renditions=tuple(r.name for r in renditions),
        pathways=tuple(r.appliance.appliance_id for r in ranking.appliances),
        expires=expires,
    )
    if decision_log_every and stable_id_residue(session.session_id) % decision_log_every == 0:
        explanation = explain_ranking(
            view,
            client_ip=client_ip,
            units=units,
            session_id=sticky_id,
            max_appliances=MAX_PATHWAYS,
            origin=ORIGIN_PATHWAY,
        )
        # The decision log is for operators: which prefix and site, not which subscriber.
        logger.info("steering decision %s", explanation.model_dump_json(exclude={"client_ip"}))
    token = sessions.seal(session)
    return PlaybackSessionLinks(
        hls_url=session_url(token, "session_hls"),
        dash_url=session_url(token, "session_dash"),
        hls_steering_url=session_url(token, "session_hls_steering"),
        dash_steering_url=session_url(token, "session_dash_steering"),
        pathways=list(session.all_pathways()),
        expires_at=session.expires_at,
    )


def start_playback(
    playback: Playback,
    *,
    subscriber: Subscriber,
    profile_id: str,
    title_id: str,
    rendition: str | None,
    client_ip: str,
    session_url: SessionUrl,
    now: datetime | None = None,
) -> PlaybackResponse:
    """Check profile, entitlement and maturity; pick the rendition; steer; record the play."""
    now = now or datetime.now(UTC)
    profile = playback.profiles.get(account_id=subscriber.account_id, profile_id=profile_id)
    allowed = playback.entitlements.check(account_id=subscriber.account_id)
    if not allowed.entitled or allowed.max_rendition is None:
        raise NotEntitled("this account has no active subscription; subscribe to a plan to play")
    title = playback.titles.get(title_id)
    if not profile.max_maturity.allows(title.maturity):
        raise MaturityRestricted(
            f"this profile is limited to {profile.max_maturity.value}; the title is rated "
            f"{title.maturity.value}"
        )
    renditions = session_renditions(title, requested=rendition, max_rendition=allowed.max_rendition)
    links = start_session(
        playback.sessions,
        view=playback.fleet.current(),
        title=title,
        renditions=renditions,
        client_ip=client_ip,
        sticky_id=subscriber.session_id,
        expires=int((now + playback.url_ttl).timestamp()),
        session_url=session_url,
        decision_log_every=playback.decision_log_every,
    )
    playback.events.record(
        ViewingEvent(
            title_id=title.title_id,
            kind=EventKind.PLAY,
            account_id=subscriber.account_id,
            profile_id=profile.profile_id,
            region=profile.region,
            at=now,
        )
    )
    return PlaybackResponse(
        title_id=title.title_id,
        rendition=renditions[-1].name,
        renditions=[r.name for r in renditions],
        session=links,
    )
