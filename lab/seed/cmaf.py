"""Read a single-file fragmented MP4 (ffmpeg `-movflags +dash+global_sidx`) into what HLS and
DASH need: the init section, the segment index and each fragment's byte range and duration.

One file per rendition then serves both: DASH addresses it with SegmentBase (`Initialization`
and `indexRange`, the global `sidx`), HLS with a media playlist of `EXT-X-BYTERANGE`s written
from the same index. Hand-written over a box library: only top-level boxes, the `sidx`
(ISO/IEC 14496-12 8.16.3) and the `avcC` profile bytes are read, from files ffmpeg just wrote.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

_BOX_HEADER = struct.Struct(">I4s")


class CmafError(ValueError):
    """The file is not the single-file, globally indexed fragmented MP4 this expects."""


@dataclass(frozen=True)
class Fragment:
    offset: int
    length: int
    duration_s: float


@dataclass(frozen=True)
class CmafIndex:
    init_length: int  # ftyp + moov: bytes [0, init_length)
    index_range: tuple[int, int]  # the sidx box, first and last byte (inclusive, as DASH)
    fragments: tuple[Fragment, ...]
    codecs: str

    @property
    def duration_s(self) -> float:
        return sum(f.duration_s for f in self.fragments)


def _top_level_boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    boxes = []
    offset = 0
    while offset < len(data):
        if offset + 8 > len(data):
            raise CmafError(f"a box header is cut short at byte {offset}")
        size, kind = _BOX_HEADER.unpack_from(data, offset)
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, offset + 8)
        if size < 8 or offset + size > len(data):
            raise CmafError(f"box {kind!r} at {offset} has an impossible size {size}")
        boxes.append((kind, offset, size))
        offset += size
    return boxes


def _codecs(moov: bytes) -> str:
    """RFC 6381 codecs of the one track: H.264 from its avcC profile bytes, or AAC (the seeder
    encodes AAC-LC only, object type 2)."""
    at = moov.find(b"avcC")
    if at >= 0:
        profile, constraints, level = moov[at + 5 : at + 8]
        return f"avc1.{profile:02x}{constraints:02x}{level:02x}"
    if moov.find(b"mp4a") >= 0 and moov.find(b"esds") >= 0:
        return "mp4a.40.2"
    raise CmafError("neither an avcC nor an mp4a/esds box: not H.264 video or AAC audio")


def read_index(data: bytes) -> CmafIndex:
    """The init section, the sidx and the fragments it references, checked against the boxes."""
    boxes = _top_level_boxes(data)
    kinds = [kind for kind, _, _ in boxes]
    if kinds[:3] != [b"ftyp", b"moov", b"sidx"]:
        raise CmafError(f"expected ftyp, moov, sidx first; found {kinds[:3]}")
    _, moov_at, moov_size = boxes[1]
    _, sidx_at, sidx_size = boxes[2]
    body = sidx_at + 8
    version = data[body]
    (timescale,) = struct.unpack_from(">I", data, body + 8)
    if version == 0:
        (first_offset,) = struct.unpack_from(">I", data, body + 16)
        cursor = body + 20
    else:
        (first_offset,) = struct.unpack_from(">Q", data, body + 20)
        cursor = body + 28
    (count,) = struct.unpack_from(">H", data, cursor + 2)
    cursor += 4
    if timescale == 0 or count == 0:
        raise CmafError("the sidx has no timescale or no references")
    offset = sidx_at + sidx_size + first_offset
    boundaries = {at for _, at, _ in boxes} | {len(data)}
    fragments = []
    for _ in range(count):
        referenced, duration, _sap = struct.unpack_from(">III", data, cursor)
        cursor += 12
        if referenced >> 31:
            raise CmafError("the sidx references another sidx (hierarchical index)")
        length = referenced & 0x7FFFFFFF
        if data[offset + 4 : offset + 8] not in (b"moof", b"styp"):
            raise CmafError(f"the sidx points at byte {offset}, which starts no fragment")
        if offset + length not in boundaries:
            raise CmafError(
                f"the sidx says the fragment at byte {offset} is {length} bytes, which ends "
                "inside a box"
            )
        fragments.append(Fragment(offset=offset, length=length, duration_s=duration / timescale))
        offset += length
    return CmafIndex(
        init_length=moov_at + moov_size,
        index_range=(sidx_at, sidx_at + sidx_size - 1),
        fragments=tuple(fragments),
        codecs=_codecs(data[moov_at : moov_at + moov_size]),
    )


def media_playlist(index: CmafIndex, *, media_name: str) -> str:
    """An HLS VOD media playlist addressing `media_name` by byte range, fragment by fragment."""
    target = max(1, math.ceil(max(f.duration_s for f in index.fragments) - 1e-6))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{media_name}",BYTERANGE="{index.init_length}@0"',
    ]
    for fragment in index.fragments:
        lines.append(f"#EXTINF:{fragment.duration_s:.6f},")
        lines.append(f"#EXT-X-BYTERANGE:{fragment.length}@{fragment.offset}")
        lines.append(media_name)
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
