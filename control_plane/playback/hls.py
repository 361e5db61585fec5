"""HLS for one session: its multivariant playlist (one variant per rendition and pathway, an
audio group per pathway, Content Steering) and the origin pathway's media playlists.

Written by hand rather than with a playlist library: a multivariant playlist is a handful of
tag lines whose attribute rules (RFC 8216bis 4.2) are checked here, and the origin rewrite
changes only URI lines of a playlist our own packager wrote. Players (hls.js, ffmpeg, Safari)
are the judge, in tests.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from control_plane.catalog.models import Rendition

CONTENT_TYPE = "application/vnd.apple.mpegurl"
# A quoted-string attribute value may not hold '"', CR or LF (RFC 8216bis 4.2).
_QUOTABLE = re.compile(r'^[^"\r\n]*$')
_MAP_URI = re.compile(r'URI="([^"]*)"')


class PlaylistMismatch(RuntimeError):
    """The stored media playlist names a file the catalog does not list for its rendition."""


@dataclass(frozen=True)
class Pathway:
    """One place to play every rendition from: `uri(rendition, key)` is the URL there of
    `key`, one of the rendition's files (its media playlist, its audio playlist)."""

    pathway_id: str
    uri: Callable[[Rendition, str], str]


def _quoted(value: str) -> str:
    if not _QUOTABLE.match(value):
        raise ValueError(f"{value!r} cannot be an HLS quoted-string")
    return f'"{value}"'


def _uri_line(uri: str) -> str:
    if not uri or "\n" in uri or "\r" in uri or uri.startswith("#"):
        raise ValueError(f"{uri!r} cannot be an HLS URI line")
    return uri


def multivariant_playlist(
    *,
    renditions: Sequence[Rendition],
    pathways: Sequence[Pathway],
    steering_uri: str,
) -> str:
    """Every rendition on every pathway, pathways in rank order; the first is the default.

    Size: (renditions x pathways) variant entries, whatever the title's length.
    """
    if not renditions or not pathways:
        raise ValueError("a multivariant playlist needs at least one rendition and one pathway")
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f"#EXT-X-CONTENT-STEERING:SERVER-URI={_quoted(steering_uri)},"
        f"PATHWAY-ID={_quoted(pathways[0].pathway_id)}",
    ]
    ordered = sorted(renditions, key=lambda r: r.bandwidth)
    # One audio group per pathway, from the lowest rendition's copy of the sound (every
    # rendition the session allows carries the same track).
    sound_of = next((r for r in ordered if r.audio is not None), None)
    for pathway in pathways:
        group = f"audio-{pathway.pathway_id}"
        if sound_of is not None and sound_of.audio is not None:
            audio = sound_of.audio
            lines.append(
                "#EXT-X-MEDIA:TYPE=AUDIO,"
                f"GROUP-ID={_quoted(group)},LANGUAGE={_quoted(audio.language)},"
                f"NAME={_quoted(audio.name)},DEFAULT=YES,AUTOSELECT=YES,"
                f"CHANNELS={_quoted(str(audio.channels))},"
                f"URI={_quoted(pathway.uri(sound_of, audio.playlist))}"
            )
        for rendition in ordered:
            bandwidth = rendition.bandwidth
            codecs = rendition.codecs
            if sound_of is not None and sound_of.audio is not None:
                bandwidth += sound_of.audio.bandwidth
                codecs = f"{codecs},{sound_of.audio.codecs}" if codecs is not None else None
            attributes = [f"BANDWIDTH={bandwidth}"]
            if rendition.width is not None:
                attributes.append(f"RESOLUTION={rendition.width}x{rendition.height}")
            if codecs is not None:
                attributes.append(f"CODECS={_quoted(codecs)}")
            if sound_of is not None:
                attributes.append(f"AUDIO={_quoted(group)}")
            attributes.append(f"PATHWAY-ID={_quoted(pathway.pathway_id)}")
            lines.append("#EXT-X-STREAM-INF:" + ",".join(attributes))
            lines.append(_uri_line(pathway.uri(rendition, rendition.playlist)))
    return "\n".join(lines) + "\n"


def origin_media_playlist(
    stored: str, *, playlist: str, rendition: Rendition, url_of: Callable[[str], str]
) -> str:
    """The stored media playlist `playlist` (the rendition's, or its audio's) with each file URI
    replaced by `url_of(key)`.

    A private bucket needs a signature per object, so relative URIs cannot resolve there; a
    single-file rendition needs one presigned URL, repeated on each segment line. Only files
    the catalog lists for this rendition are signed.
    """
    directory = posixpath.dirname(playlist)
    files = {f.key for f in rendition.files}
    signed: dict[str, str] = {}

    def replace(uri: str) -> str:
        key = posixpath.normpath(posixpath.join(directory, uri))
        if "://" in uri or key not in files:
            raise PlaylistMismatch(
                f"{playlist} names {uri!r}, which is not a file of its rendition"
            )
        if key not in signed:
            signed[key] = url_of(key)
        return signed[key]

    out: list[str] = []
    for raw in stored.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#EXT-X-MAP:"):
            line = _MAP_URI.sub(lambda m: f"URI={_quoted(replace(m.group(1)))}", line)
        elif not line.startswith("#"):
            line = replace(line)
        out.append(line)
    if not out or out[0] != "#EXTM3U":
        raise PlaylistMismatch(f"{playlist} is not an HLS playlist")
    return "\n".join(out) + "\n"
