"""Seeding: encode each title's renditions, upload them to the origin, record them in the catalogue."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from control_plane.catalog.models import AudioTrack, MediaFile, Rendition, SingleFileIndex, Title
from control_plane.catalog.store import CatalogStore
from control_plane.common.aws import s3, unavailable_on_aws_error
from control_plane.common.settings import ServiceSettings
from lab.seed.cmaf import CmafIndex
from lab.seed.media import (
    AUDIO_BITRATE_KBPS,
    AUDIO_CHANNELS,
    AUDIO_LANGUAGE,
    AUDIO_MEDIA,
    AUDIO_PLAYLIST,
    LADDER,
    MEDIA,
    PLAYLIST,
    describe_media,
    encode_audio,
    encode_rendition,
)
from lab.seed.titles import synthetic_titles, title_id

logger = logging.getLogger(__name__)

_CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".mp4": "video/mp4"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _single_file(key: str, index: CmafIndex) -> SingleFileIndex:
    return SingleFileIndex(
        media=key,
        initialization=f"0-{index.init_length - 1}",
        index_range=f"{index.index_range[0]}-{index.index_range[1]}",
        duration_s=index.duration_s,
    )


def seed_catalog(
    settings: ServiceSettings, *, titles: int, duration_s: int, cache_dir: Path, seed: int = 7
) -> list[Title]:
    """Put `titles` generated titles with real HLS media in the origin bucket and catalogue."""
    client = s3(settings)
    renditions: dict[str, tuple[Rendition, ...]] = {}
    for number in range(1, titles + 1):
        tid = title_id(number)
        built = []
        sound = encode_audio(variant=number, duration_s=duration_s, cache_dir=cache_dir)
        sound_index = describe_media(sound[1].path)
        for profile in LADDER:
            files = []
            encoded = (
                encode_rendition(
                    variant=number, profile=profile, duration_s=duration_s, cache_dir=cache_dir
                )
                + sound
            )
            for item in encoded:
                key = f"{tid}/{profile.name}/{item.name}"
                with unavailable_on_aws_error(f"upload {key} to the origin bucket"):
                    client.upload_file(
                        str(item.path),
                        settings.origin_bucket,
                        key,
                        ExtraArgs={"ContentType": _CONTENT_TYPES[item.path.suffix]},
                    )
                files.append(
                    MediaFile(key=key, size=item.path.stat().st_size, sha256=_sha256(item.path))
                )
            media = next(item.path for item in encoded if item.name == MEDIA)
            index = describe_media(media)
            built.append(
                Rendition(
                    name=profile.name,
                    bandwidth=profile.bandwidth,
                    width=profile.width,
                    codecs=index.codecs,
                    playlist=f"{tid}/{profile.name}/{PLAYLIST}",
                    files=tuple(files),
                    single_file=_single_file(f"{tid}/{profile.name}/{MEDIA}", index),
                    audio=AudioTrack(
                        language=AUDIO_LANGUAGE,
                        name="English",
                        channels=AUDIO_CHANNELS,
                        bandwidth=AUDIO_BITRATE_KBPS * 1000,
                        codecs=sound_index.codecs,
                        playlist=f"{tid}/{profile.name}/{AUDIO_PLAYLIST}",
                        single_file=_single_file(
                            f"{tid}/{profile.name}/{AUDIO_MEDIA}", sound_index
                        ),
                    ),
                )
            )
        renditions[tid] = tuple(built)
    store = CatalogStore.from_settings(settings)
    seeded = list(synthetic_titles(titles, seed=seed, renditions=renditions))
    for title in seeded:
        store.put(title)
    logger.info("seeded %d titles into %s", len(seeded), settings.origin_bucket)
    return seeded
