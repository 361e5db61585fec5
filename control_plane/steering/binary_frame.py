"""The framing of the steering snapshot's binary parts: magic bytes, a big-endian 4-byte length
and a JSON object header, then the payload the header describes."""

from __future__ import annotations

import json
import struct
from typing import Any

_LENGTH = struct.Struct(">I")


def frame_header(magic: bytes, header: dict[str, Any]) -> bytes:
    """Magic, length and the header: the bytes before a part's payload."""
    encoded = json.dumps(header, separators=(",", ":")).encode()
    return magic + _LENGTH.pack(len(encoded)) + encoded


def read_frame_header(data: bytes, magic: bytes, *, what: str) -> tuple[dict[str, Any], int]:
    """The header `frame_header` wrote and where the payload starts; ValueError naming `what`
    for other magic, a cut-short length or a header that is not a JSON object."""
    if not data.startswith(magic) or len(data) < len(magic) + _LENGTH.size:
        raise ValueError(f"{what}: bad magic")
    (size,) = _LENGTH.unpack_from(data, len(magic))
    start = len(magic) + _LENGTH.size
    if len(data) < start + size:
        raise ValueError(f"{what} header is unreadable: cut short")
    try:
        header = json.loads(data[start : start + size])
    except ValueError as exc:
        raise ValueError(f"{what} header is unreadable: {exc}") from exc
    if not isinstance(header, dict):
        raise ValueError(f"{what} header is unreadable: not a JSON object")
    return header, start + size
