"""The playback route: one POST per play, since it records the play event."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from control_plane.auth.deps import CurrentSubscriber
from control_plane.auth.profile_ids import ProfileIdField
from control_plane.catalog.models import TitleId
from control_plane.common.app_factory import ErrorBody
from control_plane.common.errors import BadRequest
from control_plane.playback.service import Playback, start_playback
from edgefill_contracts import PlaybackResponse

router = APIRouter(prefix="/playback", tags=["playback"])


class PlayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile_id: ProfileIdField
    title_id: TitleId
    rendition: Annotated[str | None, Field(pattern=r"^[0-9]{3,4}p$")] = None


@router.post(
    "/start",
    response_model=PlaybackResponse,
    responses={403: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)
def start(request: Request, subscriber: CurrentSubscriber, body: PlayRequest) -> PlaybackResponse:
    """Signed URLs to play `title_id` for `profile_id`, nearest appliance first, origin last."""
    if request.client is None:
        raise BadRequest("the client address is unknown; call through the API gateway")
    playback: Playback = request.app.state.playback
    return start_playback(
        playback,
        subscriber=subscriber,
        profile_id=body.profile_id,
        title_id=body.title_id,
        rendition=body.rendition,
        client_ip=request.client.host,
        session_url=lambda token, name: str(request.url_for(name, token=token)),
    )
