"""DASH for one session: an MPD with one Representation per rendition the plan allows and one
audio Representation, each with a BaseURL per service location (appliances in rank order, the
origin last), and DASH-IF Content Steering.

Single-file renditions only (SegmentBase: the init range and the `sidx` range of the one
file), so the MPD has constant size whatever the title's length. Built with the standard
library's ElementTree, which escapes attribute and text values.
"""

from __future__ import annotations

# bandit B405: builds XML only, never parses any.
import xml.etree.ElementTree as ET  # nosec B405
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from control_plane.catalog.models import Rendition, SingleFileIndex

CONTENT_TYPE = "application/dash+xml"
_NS = "urn:mpeg:dash:schema:mpd:2011"
_ON_DEMAND = "urn:mpeg:dash:profile:isoff-on-demand:2011"


@dataclass(frozen=True)
class ServiceLocation:
    """One place to play every rendition from: `media_url(rendition, key)` is the URL there of
    `key`, one of the rendition's single files (its video, its audio)."""

    location_id: str
    media_url: Callable[[Rendition, str], str]


def _duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def _single_file(
    representation: ET.Element,
    locations: Sequence[ServiceLocation],
    rendition: Rendition,
    index: SingleFileIndex,
) -> None:
    """A BaseURL per service location, then the SegmentBase of the one file."""
    for location in locations:
        base = ET.SubElement(representation, "BaseURL", {"serviceLocation": location.location_id})
        base.text = location.media_url(rendition, index.media)
    segment_base = ET.SubElement(representation, "SegmentBase", {"indexRange": index.index_range})
    ET.SubElement(segment_base, "Initialization", {"range": index.initialization})


def session_mpd(
    *,
    renditions: Sequence[Rendition],
    locations: Sequence[ServiceLocation],
    steering_url: str,
) -> str:
    """The MPD of a session; `renditions` must all be single-file (SegmentBase)."""
    if not renditions or not locations:
        raise ValueError("an MPD needs at least one rendition and one service location")
    indexed = []
    for rendition in renditions:
        if rendition.single_file is None:
            raise ValueError(f"rendition {rendition.name} is not single-file; DASH cannot play it")
        indexed.append((rendition, rendition.single_file))
    duration = max(index.duration_s for _, index in indexed)
    mpd = ET.Element(
        "MPD",
        {
            "xmlns": _NS,
            "profiles": _ON_DEMAND,
            "type": "static",
            "mediaPresentationDuration": _duration(duration),
            "minBufferTime": "PT2S",
        },
    )
    steering = ET.SubElement(
        mpd,
        "ContentSteering",
        {"defaultServiceLocation": locations[0].location_id, "queryBeforeStart": "false"},
    )
    steering.text = steering_url
    period = ET.SubElement(mpd, "Period", {"id": "0", "start": "PT0S"})
    video = ET.SubElement(
        period,
        "AdaptationSet",
        {
            "id": "0",
            "contentType": "video",
            "mimeType": "video/mp4",
            "segmentAlignment": "true",
            "subsegmentAlignment": "true",
            "subsegmentStartsWithSAP": "1",
        },
    )
    for rendition, index in sorted(indexed, key=lambda pair: pair[0].bandwidth):
        attributes = {"id": rendition.name, "bandwidth": str(rendition.bandwidth)}
        if rendition.width is not None:
            attributes["width"] = str(rendition.width)
        attributes["height"] = str(rendition.height)
        if rendition.codecs is not None:
            attributes["codecs"] = rendition.codecs
        representation = ET.SubElement(video, "Representation", attributes)
        _single_file(representation, locations, rendition, index)
    sound_of = next(
        (r for r, _ in sorted(indexed, key=lambda pair: pair[0].bandwidth) if r.audio), None
    )
    if sound_of is not None and sound_of.audio is not None:
        audio = sound_of.audio
        audio_set = ET.SubElement(
            period,
            "AdaptationSet",
            {
                "id": "1",
                "contentType": "audio",
                "mimeType": "audio/mp4",
                "lang": audio.language,
                "segmentAlignment": "true",
                "subsegmentAlignment": "true",
                "subsegmentStartsWithSAP": "1",
            },
        )
        representation = ET.SubElement(
            audio_set,
            "Representation",
            {"id": "audio", "bandwidth": str(audio.bandwidth), "codecs": audio.codecs},
        )
        ET.SubElement(
            representation,
            "AudioChannelConfiguration",
            {
                "schemeIdUri": "urn:mpeg:dash:23003:3:audio_channel_configuration:2011",
                "value": str(audio.channels),
            },
        )
        _single_file(representation, locations, sound_of, audio.single_file)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(mpd, encoding="unicode")
