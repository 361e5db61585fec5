"""HLS for one session: its multivariant playlist (one variant per rendition and pathway, with
Content Steering) and the origin pathway's media playlists.

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
    """One place to play every rendition from: `uri(rendition)` is that rendition's playlist."""

    pathway_id: str
    uri: Callable[[Rendition], str]


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
    for pathway in pathways:
        for rendition in ordered:
            attributes = [f"BANDWIDTH={rendition.bandwidth}"]
            if rendition.width is not None:
                attributes.append(f"RESOLUTION={rendition.width}x{rendition.height}")
            if rendition.codecs is not None:
                attributes.append(f"CODECS={_quoted(rendition.codecs)}")
            attributes.append(f"PATHWAY-ID={_quoted(pathway.pathway_id)}")
            lines.append("#EXT-X-STREAM-INF:" + ",".join(attributes))
            lines.append(_uri_line(pathway.uri(rendition)))
    return "\n".join(lines) + "\n"


def origin_media_playlist(
    stored: str, *, rendition: Rendition, url_of: Callable[[str], str]
) -> str:
    """The rendition's stored media playlist with each file URI replaced by `url_of(key)`.

    A private bucket needs a signature per object, so relative URIs cannot resolve there; a
    single-file rendition needs one presigned URL, repeated on each segment line. Only files
    the catalog lists for this rendition are signed.
    """
    directory = posixpath.dirname(rendition.playlist)
    files = {f.key for f in rendition.files}
    signed: dict[str, str] = {}

    def replace(uri: str) -> str:
        key = posixpath.normpath(posixpath.join(directory, uri))
        if "://" in uri or key not in files:
            raise PlaylistMismatch(
                f"{rendition.playlist} names {uri!r}, which is not a file of its rendition"
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
        raise PlaylistMismatch(f"{rendition.playlist} is not an HLS playlist")
    return "\n".join(out) + "\n"
