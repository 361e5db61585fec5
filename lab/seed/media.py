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
# One stereo AAC-LC track per title, stored again in each rendition's directory: a rendition
# (a placement unit) is then self-contained, and its playback token opens its sound too.
AUDIO_PLAYLIST = "audio.m3u8"
AUDIO_MEDIA = "audio.mp4"
AUDIO_BITRATE_KBPS = 128
AUDIO_LANGUAGE = "en"
AUDIO_CHANNELS = 2


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


def encode_audio(*, variant: int, duration_s: int, cache_dir: Path) -> list[EncodedFile]:
    """The audio playlist and file of test pattern `variant` (a tone), in that order."""
    key = hashlib.sha256(
        json.dumps([_CACHE_VERSION, "audio", variant % 24, duration_s, AUDIO_BITRATE_KBPS]).encode()
    ).hexdigest()[:24]
    entry = cache_dir / key
    if not (entry / AUDIO_PLAYLIST).is_file() or not (entry / AUDIO_MEDIA).is_file():
        frequency = 220 + 20 * (variant % 24)
        source = f"sine=frequency={frequency}:sample_rate=48000:duration={duration_s}"
        _run_ffmpeg(
            entry,
            what="audio",
            media=AUDIO_MEDIA,
            playlist=AUDIO_PLAYLIST,
            arguments=[
                "-f", "lavfi", "-i", source, "-ac", str(AUDIO_CHANNELS),
                "-c:a", "aac", "-b:a", f"{AUDIO_BITRATE_KBPS}k",
                "-frag_duration", str(SEGMENT_SECONDS * 1_000_000),
            ],
        )  # fmt: skip
    return [
        EncodedFile(AUDIO_PLAYLIST, entry / AUDIO_PLAYLIST),
        EncodedFile(AUDIO_MEDIA, entry / AUDIO_MEDIA),
    ]


def describe_media(path: Path) -> CmafIndex:
    """The index of an encoded media file (init section, sidx, fragments, codecs)."""
    return read_index(path.read_bytes())


def _encode_into(entry: Path, *, variant: int, profile: RenditionProfile, duration_s: int) -> None:
    gop = 24 * SEGMENT_SECONDS
    _run_ffmpeg(
        entry,
        what=profile.name,
        media=MEDIA,
        playlist=PLAYLIST,
        arguments=[
            "-f", "lavfi",
            "-i", f"testsrc2=size={profile.width}x{profile.height}:rate=24:duration={duration_s}",
            "-vf", f"hue=h={variant * 47 % 360}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-threads", "1",
            "-b:v", f"{profile.bitrate_kbps}k", "-maxrate", f"{profile.bitrate_kbps}k",
            "-bufsize", f"{2 * profile.bitrate_kbps}k",
            "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        ],
    )  # fmt: skip
    logger.info("encoded %s of variant %d into %s", profile.name, variant, entry)


def _run_ffmpeg(entry: Path, *, what: str, media: str, playlist: str, arguments: list[str]) -> None:
    """Encode into a work directory beside `entry` (one CMAF file and its byte-range HLS
    playlist), then rename it into place."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise MediaError("ffmpeg is not installed; run scripts/bootstrap.sh (it installs ffmpeg)")
    entry.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".encode-", dir=entry.parent))
    command = [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", *arguments,
        "-f", "mp4", "-movflags", "+dash+global_sidx", str(work / media),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=FFMPEG_TIMEOUT_S)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise MediaError(
            f"ffmpeg failed encoding {what} (exit {exc.returncode}): "
            f"{exc.stderr.decode(errors='replace').strip()[:500]}"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise MediaError(f"ffmpeg took over {FFMPEG_TIMEOUT_S} s encoding {what}") from exc
    try:
        index = read_index((work / media).read_bytes())
    except CmafError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise MediaError(f"ffmpeg wrote an unexpected {what} file: {exc}") from exc
    (work / playlist).write_text(media_playlist(index, media_name=media))
    try:
        os.rename(work, entry)
    except OSError:
        # Another worker finished the same entry first; theirs is identical in shape.
        shutil.rmtree(work, ignore_errors=True)
        if not (entry / playlist).is_file():
            raise
