"""The playback answer: a session and its renditions; the pre-session fields are gone."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edgefill_contracts import PlaybackResponse

SESSION = {
    "hls_url": "https://api/playback/sessions/tok/main.m3u8",
    "dash_url": "https://api/playback/sessions/tok/manifest.mpd",
    "hls_steering_url": "https://api/playback/sessions/tok/steering",
    "dash_steering_url": "https://api/playback/sessions/tok/steering/dash",
    "pathways": ["app-1", "origin"],
    "expires_at": "2026-01-01T00:00:00Z",
}


def test_the_answer_round_trips() -> None:
    response = PlaybackResponse(
        title_id="t", rendition="720p", renditions=["240p", "720p"], session=SESSION
    )
    assert PlaybackResponse.model_validate_json(response.model_dump_json()) == response


def test_a_pre_session_answer_is_refused() -> None:
    """The one-rendition answer (appliance URL list, presigned origin files) no longer parses:
    a client still reading it gets a clear error, not an answer without its URLs."""
    old = {
        "title_id": "t",
        "rendition": "240p",
        "playlist": "240p/index.m3u8",
        "urls": [],
        "origin": {
            "url": "https://o/x",
            "appliance_id": None,
            "expires_at": "2026-01-01T00:00:00Z",
        },
    }
    with pytest.raises(ValidationError, match="session"):
        PlaybackResponse.model_validate(old)


def test_a_session_offers_at_least_one_rendition() -> None:
    with pytest.raises(ValidationError, match="renditions"):
        PlaybackResponse(title_id="t", rendition="720p", renditions=[], session=SESSION)
