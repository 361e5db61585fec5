"""Recommendation routes: record a viewing event, read a profile's picks."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response, status

from control_plane.auth.deps import CurrentSubscriber, ProfileIdPath
from control_plane.auth.profiles import ProfileStore
from control_plane.recommendations.events import EventStore, profile_key
from control_plane.recommendations.models import PickList, ViewingEvent, ViewingEventIn
from control_plane.recommendations.picks import PicksStore

router = APIRouter(prefix="/recommendations", tags=["recommendations"])


@router.post("/profiles/{profile_id}/events", status_code=status.HTTP_204_NO_CONTENT)
def record_event(
    request: Request, subscriber: CurrentSubscriber, profile_id: ProfileIdPath, body: ViewingEventIn
) -> Response:
    profiles: ProfileStore = request.app.state.profiles
    profile = profiles.get(account_id=subscriber.account_id, profile_id=profile_id)
    events: EventStore = request.app.state.events
    events.record(
        ViewingEvent(
            **body.model_dump(),
            account_id=subscriber.account_id,
            profile_id=profile.profile_id,
            region=profile.region,
            at=datetime.now(UTC),
        )
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/profiles/{profile_id}", response_model=PickList)
def get_picks(
    request: Request, subscriber: CurrentSubscriber, profile_id: ProfileIdPath
) -> PickList:
    """Last night's picks; before the first run, the region's popular titles."""
    profiles: ProfileStore = request.app.state.profiles
    profile = profiles.get(account_id=subscriber.account_id, profile_id=profile_id)
    store: PicksStore = request.app.state.picks
    stored = store.picks(profile_key(subscriber.account_id, profile.profile_id))
    if stored is not None:
        return stored
    return PickList(
        profile_id=profile.profile_id, generated_at=None, picks=store.popular(profile.region)
    )
