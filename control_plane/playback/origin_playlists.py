"""Stored HLS media playlists read from the origin bucket, checked and kept per process.

The origin pathway of a session serves a rewritten copy of the rendition's media playlist
(`hls.origin_media_playlist`); the stored one is read once per content (key and sha256) and
kept, so a session's player polling it costs no S3 read.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Protocol

from control_plane.catalog.models import MediaFile
from control_plane.common.aws import s3, unavailable_on_aws_error
from control_plane.common.errors import Unavailable
from control_plane.common.settings import ServiceSettings

MAX_PLAYLIST_BYTES = 4 * 1024 * 1024


class PlaylistReader(Protocol):
    def __call__(self, playlist: MediaFile) -> str: ...


class S3PlaylistReader:
    """Reads `playlist` from the origin bucket; its sha256 must match the catalogue's."""

    def __init__(self, *, settings: ServiceSettings, cache_size: int = 1024) -> None:
        self._client = s3(settings)
        self._bucket = settings.origin_bucket
        self._cache: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def __call__(self, playlist: MediaFile) -> str:
        cache_key = (playlist.key, playlist.sha256)
        with self._lock:
            text = self._cache.get(cache_key)
            if text is not None:
                self._cache.move_to_end(cache_key)
                return text
        if playlist.size > MAX_PLAYLIST_BYTES:
            raise Unavailable(f"{playlist.key} is {playlist.size} bytes; too big for a playlist")
        with unavailable_on_aws_error(f"read {playlist.key} from the origin bucket"):
            body = self._client.get_object(Bucket=self._bucket, Key=playlist.key)["Body"].read()
        if hashlib.sha256(body).hexdigest() != playlist.sha256:
            raise Unavailable(
                f"{playlist.key} in the origin bucket does not match the catalogue's sha256; "
                "the title is being replaced or the catalogue is stale"
            )
        text = body.decode("utf-8")
        with self._lock:
            self._cache[cache_key] = text
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return text
