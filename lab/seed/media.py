"""Real media for generated titles: ffmpeg encodes a test pattern into several renditions.

Each rendition is one fragmented-MP4 file (CMAF: ftyp and moov, one global `sidx`, then one
fragment per 2 s segment; ffmpeg's `-movflags +dash+global_sidx`) and an HLS media playlist
that addresses the fragments by byte range (`EXT-X-MAP`, `EXT-X-BYTERANGE`), written from the
file's own index (`lab.seed.cmaf`). Two stored objects per rendition whatever its length, as
Open Connect stores streams; DASH reads the same file through its `sidx` (SegmentBase).
Players fetch ranges; the appliance's nginx serves them from the one file.

Output is cached on disk by a key of everything that shapes it, so tests and the lab encode
each title once per machine. A cache entry is built in a temporary directory and renamed into
place, so concurrent test workers never see half an entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgefill_build.cache import cache_root
from lab.seed.cmaf import CmafError, CmafIndex, media_playlist, read_index

logger = logging.getLogger(__name__)

FFMPEG_TIMEOUT_S = 60
_CACHE_VERSION = 3  # 3: global sidx for DASH (2: HLS-only single file; 1: .ts segments)


class MediaError(RuntimeError):
    """ffmpeg is missing or failed; the message says which command and what it printed."""


@dataclass(frozen=True)
class RenditionProfile:
    name: str
    width: int
    height: int
    bitrate_kbps: int

    @property
    def bandwidth(self) -> int:
        return self.bitrate_kbps * 1000


LADDER = (
    RenditionProfile("144p", 256, 144, 200),
    RenditionProfile("240p", 426, 240, 400),
    RenditionProfile("360p", 640, 360, 800),
)
SEGMENT_SECONDS = 2
PLAYLIST = "index.m3u8"
MEDIA = "media.mp4"


@dataclass(frozen=True)
class EncodedFile:
    name: str
    path: Path


def default_cache_dir() -> Path:
    """`$EDGEFILL_MEDIA_CACHE`, else `media/` under the build cache root (`edgefill_build`)."""
    override = os.environ.get("EDGEFILL_MEDIA_CACHE")
    return Path(override).resolve() if override else cache_root() / "media"


def encode_rendition(
    *, variant: int, profile: RenditionProfile, duration_s: int, cache_dir: Path
) -> list[EncodedFile]:
    """The playlist and the media file of one rendition of test pattern `variant`, in that order."""
    key = hashlib.sha256(
        json.dumps(
            [_CACHE_VERSION, variant % 360, profile.__dict__, duration_s, SEGMENT_SECONDS]
        ).encode()
    ).hexdigest()[:24]
    entry = cache_dir / key
    if not (entry / PLAYLIST).is_file() or not (entry / MEDIA).is_file():
        _encode_into(entry, variant=variant, profile=profile, duration_s=duration_s)
    return [EncodedFile(PLAYLIST, entry / PLAYLIST), EncodedFile(MEDIA, entry / MEDIA)]


def describe_media(path: Path) -> CmafIndex:
    """The index of an encoded media file (init section, sidx, fragments, codecs)."""
    return read_index(path.read_bytes())


def _encode_into(entry: Path, *, variant: int, profile: RenditionProfile, duration_s: int) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise MediaError("ffmpeg is not installed; run scripts/bootstrap.sh (it installs ffmpeg)")
    entry.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".encode-", dir=entry.parent))
    gop = 24 * SEGMENT_SECONDS
    command = [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "lavfi",
        "-i", f"testsrc2=size={profile.width}x{profile.height}:rate=24:duration={duration_s}",
        "-vf", f"hue=h={variant * 47 % 360}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-threads", "1",
        "-b:v", f"{profile.bitrate_kbps}k", "-maxrate", f"{profile.bitrate_kbps}k",
        "-bufsize", f"{2 * profile.bitrate_kbps}k",
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-f", "mp4", "-movflags", "+dash+global_sidx",
        str(work / MEDIA),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=FFMPEG_TIMEOUT_S)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise MediaError(
            f"ffmpeg failed encoding {profile.name} (exit {exc.returncode}): "
            f"{exc.stderr.decode(errors='replace').strip()[:500]}"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise MediaError(f"ffmpeg took over {FFMPEG_TIMEOUT_S} s encoding {profile.name}") from exc
    try:
        index = read_index((work / MEDIA).read_bytes())
    except CmafError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise MediaError(f"ffmpeg wrote an unexpected {profile.name} file: {exc}") from exc
    (work / PLAYLIST).write_text(media_playlist(index, media_name=MEDIA))
    try:
        os.rename(work, entry)
    except OSError:
        # Another worker finished the same entry first; theirs is identical in shape.
        shutil.rmtree(work, ignore_errors=True)
        if not (entry / PLAYLIST).is_file():
            raise
    logger.info("encoded %s of variant %d into %s", profile.name, variant, entry)
