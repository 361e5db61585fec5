"""A session's player-facing routes: its HLS and DASH manifests, its Content Steering server
and the origin pathway's media playlists.

Public at the gateway (a player cannot attach a subscriber token); the session token in the
path is the credential (`playback.session`). Every answer is built from the token, the
catalogue (cached) and the steering snapshot: no table is scanned and nothing is written.
Browsers fetch these cross-origin, so each answer allows any origin (GET only, no cookies).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from control_plane.catalog.models import Rendition, SingleFileIndex, Title
from control_plane.common.app_factory import ErrorBody
from control_plane.common.errors import BadRequest, PayloadTooLarge, Unavailable
from control_plane.playback import dash, hls
from control_plane.playback.errors import PathwayUnknown
from control_plane.playback.service import Playback
from control_plane.playback.session import (
    MAX_PATHWAYS,
    ORIGIN_PATHWAY,
    PATHWAY_ID,
    PlaybackSession,
)
from control_plane.signing.content_urls import signed_rendition_base
from control_plane.signing.keys import SigningKey
from control_plane.steering import FleetView, pathway_priority
from edgefill_contracts.object_key import content_unit

router = APIRouter(prefix="/playback/sessions", tags=["playback sessions"])

Token = Annotated[str, Path(min_length=16, max_length=4096, pattern=r"^[A-Za-z0-9_.-]+$")]
# dash.js quotes the pathway (`_DASH_pathway="a1"`) and may send an empty throughput.
PathwayQuery = Annotated[str | None, Query(max_length=1200)]
ThroughputQuery = Annotated[str | None, Query(max_length=200)]
_PATHWAY = re.compile(PATHWAY_ID)
_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorBody},
    404: {"model": ErrorBody},
    422: {"model": ErrorBody},
}
MAX_PLAIN_ANSWER_BYTES = 5 * 1024 * 1024
_HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}


def _open(request: Request, token: str) -> tuple[Playback, PlaybackSession]:
    playback: Playback = request.app.state.playback
    return playback, playback.sessions.open(token)


def _renditions(playback: Playback, session: PlaybackSession) -> tuple[Title, list[Rendition]]:
    title = playback.titles.get(session.title_id)
    by_name = {r.name: r for r in title.renditions}
    renditions = [by_name[name] for name in session.renditions if name in by_name]
    if not renditions:
        raise Unavailable(f"{title.title_id} no longer has the session's renditions")
    return title, renditions


def _appliance_urls(
    view: FleetView, session: PlaybackSession
) -> list[tuple[str, Callable[[Rendition, str], str]]]:
    """Each session pathway the snapshot still knows, with the URL there of one of a
    rendition's files (signed with its site's key for that rendition's directory only, until
    the session ends)."""

    def url_at(base_url: str, key: SigningKey) -> Callable[[Rendition, str], str]:
        def url(rendition: Rendition, file_key: str) -> str:
            directory = signed_rendition_base(
                key=key,
                title_id=session.title_id,
                rendition=rendition.name,
                expires=session.expires,
            )
            return base_url + directory + _file_name(file_key)

        return url

    urls = []
    for appliance_id in session.pathways:
        appliance = view.appliance(appliance_id)
        if appliance is None:
            continue
        key = view.signing_key_for(appliance.site_id)
        if key is not None:
            urls.append((appliance_id, url_at(appliance.base_url, key)))
    return urls


def _file_name(key: str) -> str:
    return key.rsplit("/", 1)[1]


def _text(body: str, media_type: str, request: Request) -> Response:
    data = body.encode()
    headers = dict(_HEADERS)
    accepts_gzip = "gzip" in request.headers.get("accept-encoding", "")
    if accepts_gzip and len(data) > min(4096, MAX_PLAIN_ANSWER_BYTES):
        data = gzip.compress(data, compresslevel=6)
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
    elif len(data) > MAX_PLAIN_ANSWER_BYTES:
        # A Lambda answer is capped at 6 MB; an origin playlist of a very long title (one
        # presigned URL per segment line) only fits compressed.
        raise PayloadTooLarge(
            f"this playlist is {len(data)} bytes uncompressed; ask with Accept-Encoding: gzip"
        )
    return Response(content=data, media_type=media_type, headers=headers)


@router.get("/{token}/main.m3u8", name="session_hls", responses=_ERRORS)
def session_hls(request: Request, token: Token) -> Response:
    """The session's HLS multivariant playlist: each rendition on each pathway, and steering."""
    playback, session = _open(request, token)
    _, renditions = _renditions(playback, session)
    pathways = [
        hls.Pathway(pathway_id=appliance_id, uri=url)
        for appliance_id, url in _appliance_urls(playback.fleet.current(), session)
    ]
    pathways.append(
        hls.Pathway(
            pathway_id=ORIGIN_PATHWAY,
            uri=lambda r, key: str(
                request.url_for(
                    "session_origin_playlist",
                    token=token,
                    rendition=r.name,
                    name=_file_name(key),
                )
            ),
        )
    )
    body = hls.multivariant_playlist(
        renditions=renditions,
        pathways=pathways,
        steering_uri=str(request.url_for("session_hls_steering", token=token)),
    )
    return _text(body, hls.CONTENT_TYPE, request)


@router.get("/{token}/manifest.mpd", name="session_dash", responses=_ERRORS)
def session_dash(request: Request, token: Token) -> Response:
    """The session's DASH MPD: each rendition with a BaseURL per service location."""
    playback, session = _open(request, token)
    _, renditions = _renditions(playback, session)
    expires_at = datetime.fromtimestamp(session.expires, UTC)
    for rendition in renditions:
        _single_file(rendition)  # DASH needs single-file renditions: a clear 503 otherwise
    locations = [
        dash.ServiceLocation(location_id=appliance_id, media_url=url)
        for appliance_id, url in _appliance_urls(playback.fleet.current(), session)
    ]
    locations.append(
        dash.ServiceLocation(
            location_id=ORIGIN_PATHWAY,
            media_url=lambda _r, key: playback.origin(key=key, expires_at=expires_at),
        )
    )
    body = dash.session_mpd(
        renditions=renditions,
        locations=locations,
        steering_url=str(request.url_for("session_dash_steering", token=token)),
    )
    return _text(body, dash.CONTENT_TYPE, request)


def _single_file(rendition: Rendition) -> SingleFileIndex:
    if rendition.single_file is None:
        raise Unavailable(f"rendition {rendition.name} is not single-file; DASH cannot play it")
    return rendition.single_file


def _current_pathways(raw: str | None) -> list[str]:
    """The pathways the player reports: HLS sends one (`_HLS_pathway=a1`), dash.js a quoted,
    comma-separated list of the service locations it knows (`_DASH_pathway="a1,a2"`)."""
    if raw is None:
        return []
    value = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    names = [name for name in value.split(",") if name]
    if len(names) > MAX_PATHWAYS + 1 or not all(_PATHWAY.match(name) for name in names):
        raise BadRequest("the reported pathways are not a list of pathway ids")
    return names


def _priority(request: Request, token: str, raw: str | None) -> tuple[int, tuple[str, ...]]:
    playback, session = _open(request, token)
    known = session.all_pathways()
    for current in _current_pathways(raw):
        if current not in known:
            raise PathwayUnknown(f"pathway {current!r} is not part of this session")
    units = [content_unit(session.title_id, r) for r in session.renditions]
    order = pathway_priority(
        view=playback.fleet.current(),
        pathways=session.pathways,
        units=units,
        origin=ORIGIN_PATHWAY,
    )
    return playback.steering_ttl_s, order


@router.get("/{token}/steering", name="session_hls_steering", responses=_ERRORS)
def session_hls_steering(
    request: Request,
    token: Token,
    pathway: Annotated[PathwayQuery, Query(alias="_HLS_pathway")] = None,
    throughput: Annotated[ThroughputQuery, Query(alias="_HLS_throughput")] = None,
) -> Response:
    """HLS Content Steering: the session's pathways in the order to use them now."""
    ttl, order = _priority(request, token, pathway)
    return _json({"VERSION": 1, "TTL": ttl, "PATHWAY-PRIORITY": list(order)})


@router.get("/{token}/steering/dash", name="session_dash_steering", responses=_ERRORS)
def session_dash_steering(
    request: Request,
    token: Token,
    pathway: Annotated[PathwayQuery, Query(alias="_DASH_pathway")] = None,
    throughput: Annotated[ThroughputQuery, Query(alias="_DASH_throughput")] = None,
) -> Response:
    """DASH-IF Content Steering: the session's service locations in the order to use them now."""
    ttl, order = _priority(request, token, pathway)
    return _json({"VERSION": 1, "TTL": ttl, "SERVICE-LOCATION-PRIORITY": list(order)})


def _json(body: dict[str, object]) -> Response:
    return Response(
        content=json.dumps(body, separators=(",", ":")),
        media_type="application/json",
        headers=_HEADERS,
    )


@router.get("/{token}/origin/{rendition}/{name}", name="session_origin_playlist", responses=_ERRORS)
def session_origin_playlist(
    request: Request,
    token: Token,
    rendition: Annotated[str, Path(pattern=r"^[0-9]{3,4}p$")],
    name: Annotated[str, Path(max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9._=-]*\.m3u8$")],
) -> Response:
    """The origin pathway's media playlist `name` of one rendition (its video or its audio):
    the rendition's file presigned on each line."""
    playback, session = _open(request, token)
    session.check_rendition(rendition)
    title, renditions = _renditions(playback, session)
    chosen = next((r for r in renditions if r.name == rendition), None)
    if chosen is None:
        raise PathwayUnknown(f"{title.title_id} has no {rendition} any more")
    playlists = [chosen.playlist] + ([chosen.audio.playlist] if chosen.audio else [])
    key = next((k for k in playlists if _file_name(k) == name), None)
    if key is None:
        raise PathwayUnknown(f"{rendition} has no playlist {name!r}")
    playlist_file = next(f for f in chosen.files if f.key == key)
    expires_at = datetime.fromtimestamp(session.expires, UTC)
    try:
        body = hls.origin_media_playlist(
            playback.playlists(playlist_file),
            playlist=key,
            rendition=chosen,
            url_of=lambda file_key: playback.origin(key=file_key, expires_at=expires_at),
        )
    except hls.PlaylistMismatch as exc:
        raise Unavailable(str(exc)) from exc
    return _text(body, hls.CONTENT_TYPE, request)
