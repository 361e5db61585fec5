"""The session manifests as text: what HLS and DASH builders refuse, and what the origin
rewrite refuses to sign."""

from __future__ import annotations

import pytest

from control_plane.catalog.models import Rendition
from control_plane.playback import dash, hls
from tests.support.playback_world import MEDIA_PLAYLIST, media_renditions

RENDITION = media_renditions("title-0001")[0]  # 144p, with its sound


def _origin(stored: str, playlist: str = RENDITION.playlist) -> str:
    return hls.origin_media_playlist(
        stored, playlist=playlist, rendition=RENDITION, url_of=lambda key: f"https://o/{key}?s"
    )


def test_the_origin_rewrite_signs_only_the_renditions_own_files() -> None:
    rewritten = _origin(MEDIA_PLAYLIST)
    assert "https://o/title-0001/144p/media.mp4?s" in rewritten
    assert "\nmedia.mp4\n" not in rewritten


@pytest.mark.parametrize(
    "stored",
    [
        MEDIA_PLAYLIST.replace("\nmedia.mp4\n", "\nother.mp4\n", 1),  # not a file of it
        MEDIA_PLAYLIST.replace("\nmedia.mp4\n", "\n../240p/media.mp4\n", 1),  # another one's
        MEDIA_PLAYLIST.replace("\nmedia.mp4\n", "\nhttps://elsewhere/x.mp4\n", 1),
        MEDIA_PLAYLIST.replace('URI="media.mp4"', 'URI="secret.mp4"'),
        "media.mp4\n",  # not a playlist at all
    ],
)
def test_the_origin_rewrite_refuses_a_playlist_that_names_other_files(stored: str) -> None:
    with pytest.raises(hls.PlaylistMismatch):
        _origin(stored)


def test_a_uri_that_would_break_the_playlist_is_refused() -> None:
    broken = hls.Pathway(pathway_id="a1", uri=lambda _r, _k: "https://a1/x\n#EXT-X-ENDLIST")
    silent = RENDITION.model_copy(update={"audio": None})
    with pytest.raises(ValueError, match="URI line"):
        hls.multivariant_playlist(renditions=[silent], pathways=[broken], steering_uri="s")
    with pytest.raises(ValueError, match="quoted-string"):  # the audio group's URI
        hls.multivariant_playlist(renditions=[RENDITION], pathways=[broken], steering_uri="s")
    with pytest.raises(ValueError, match="quoted-string"):
        hls.multivariant_playlist(
            renditions=[RENDITION],
            pathways=[hls.Pathway(pathway_id="a1", uri=lambda _r, _k: "https://a1/x")],
            steering_uri='s",SERVER-URI="https://evil',
        )


def test_dash_refuses_a_rendition_that_is_not_single_file() -> None:
    segmented = Rendition.model_validate(
        RENDITION.model_dump() | {"single_file": None, "audio": None}
    )
    location = dash.ServiceLocation(location_id="a1", media_url=lambda _r, k: f"https://a1/{k}")
    with pytest.raises(ValueError, match="not single-file"):
        dash.session_mpd(renditions=[segmented], locations=[location], steering_url="s")
    with pytest.raises(ValueError, match="at least one"):
        dash.session_mpd(renditions=[RENDITION], locations=[], steering_url="s")
