"""Operator routes of playback (`Authorization: Bearer <admin token>`): explained steering."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request

from control_plane.catalog.models import TitleId
from control_plane.fleet.auth import check_admin
from control_plane.playback.service import Playback, allowed_renditions
from control_plane.playback.session import MAX_PATHWAYS, ORIGIN_PATHWAY
from control_plane.steering import SteeringExplanation, explain_ranking
from edgefill_contracts.object_key import content_unit

router = APIRouter(prefix="/playback/admin", tags=["admin"])


@router.get("/steering/explain")
def explain_steering(
    request: Request,
    client_ip: Annotated[str, Query(max_length=64, description="The subscriber's address.")],
    title_id: TitleId,
    max_rendition: Annotated[str, Query(pattern=r"^[0-9]{3,4}p$")] = "2160p",
    session_id: Annotated[str, Query(min_length=1, max_length=128)] = "explain",
    authorization: Annotated[str | None, Header()] = None,
) -> SteeringExplanation:
    """Why a session of `title_id` for `client_ip` would play from where it would: the matched
    prefix and site, each candidate appliance with its verdict, the pathways, the fallback.
    `session_id` reproduces one session's order (steering hashes it); the renditions are those
    up to `max_rendition`, as a plan with that ceiling would get."""
    check_admin(authorization, admin_token=request.app.state.settings.admin_token)
    playback: Playback = request.app.state.playback
    title = playback.titles.get(title_id)
    renditions = allowed_renditions(title, max_rendition=max_rendition)
    return explain_ranking(
        playback.fleet.current(),
        client_ip=client_ip,
        units=[content_unit(title.title_id, r.name) for r in renditions],
        session_id=session_id,
        max_appliances=MAX_PATHWAYS,
        origin=ORIGIN_PATHWAY,
    )
