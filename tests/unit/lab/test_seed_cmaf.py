"""The seeder's CMAF index reader refuses files that are not one globally indexed fragmented
MP4, so a bad encode never reaches the catalogue with wrong byte ranges."""

from __future__ import annotations

import struct

import pytest

from lab.seed.cmaf import CmafError, read_index


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _sidx(sizes: list[int], *, hierarchical: bool = False, first_offset: int = 0) -> bytes:
    body = bytes(4) + struct.pack(">IIII", 1, 1000, 0, first_offset)
    body += struct.pack(">HH", 0, len(sizes))
    for size in sizes:
        body += struct.pack(">III", size | (1 << 31 if hierarchical else 0), 2000, 0)
    return _box(b"sidx", body)


MOOV = _box(b"moov", b"....avcC" + bytes([1, 0x42, 0xC0, 0x1E]) + bytes(8))
FRAGMENT = _box(b"moof", bytes(8)) + _box(b"mdat", bytes(20))


def test_a_well_formed_file_gives_its_init_index_and_fragments() -> None:
    data = _box(b"ftyp", bytes(8)) + MOOV + _sidx([len(FRAGMENT)] * 2) + FRAGMENT * 2
    index = read_index(data)
    assert index.codecs == "avc1.42c01e"
    assert index.init_length == 16 + len(MOOV)
    assert [f.length for f in index.fragments] == [len(FRAGMENT)] * 2
    assert index.duration_s == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_box(b"ftyp", bytes(8)) + MOOV + FRAGMENT, "expected ftyp, moov, sidx"),
        (_box(b"ftyp", bytes(8)) + MOOV + _sidx([len(FRAGMENT)])[:-4], "impossible size"),
        (
            _box(b"ftyp", bytes(8)) + MOOV + _sidx([len(FRAGMENT)], hierarchical=True) + FRAGMENT,
            "another sidx",
        ),
        (_box(b"ftyp", bytes(8)) + MOOV + _sidx([7]) + FRAGMENT, "ends inside a box"),
        (
            _box(b"ftyp", bytes(8)) + MOOV + _sidx([28], first_offset=16) + FRAGMENT,
            "starts no fragment",  # points at the mdat
        ),
        (
            _box(b"ftyp", bytes(8)) + _box(b"moov", bytes(16)) + _sidx([len(FRAGMENT)]) + FRAGMENT,
            "neither an avcC",
        ),
    ],
)
def test_a_file_that_is_not_one_indexed_fragmented_mp4_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(CmafError, match=reason):
        read_index(data)
