"""The playback response: the rendition's file list is optional, so older payloads still parse."""

from __future__ import annotations

from edgefill_contracts import PlaybackResponse

ORIGIN = {"url": "https://origin/x", "appliance_id": None, "expires_at": "2026-01-01T00:00:00Z"}


def test_a_payload_without_files_still_parses() -> None:
    old = {
        "title_id": "t",
        "rendition": "240p",
        "playlist": "240p/index.m3u8",
        "urls": [],
        "origin": ORIGIN,
    }
    assert PlaybackResponse.model_validate(old).files == []


def test_files_round_trip() -> None:
    response = PlaybackResponse(
        title_id="t",
        rendition="240p",
        playlist="240p/index.m3u8",
        files=["240p/index.m3u8", "240p/seg_00001.ts"],
        urls=[],
        origin=ORIGIN,
    )
    assert PlaybackResponse.model_validate_json(response.model_dump_json()) == response
