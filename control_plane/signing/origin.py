"""The origin fallback: an S3 presigned GET URL of one object, cached per key and minute."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import datetime
from typing import Protocol

from control_plane.common.aws import s3_presigner
from control_plane.common.settings import ServiceSettings

_ROUND_SECONDS = 60
_MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4's limit


class OriginSigner(Protocol):
    """Makes the origin fallback URL of one object key, valid until `expires_at`."""

    def __call__(self, *, key: str, expires_at: datetime) -> str: ...


class S3OriginSigner:
    """Presigns GETs on the origin bucket; an OriginSigner for steering and manifests.

    Presigning costs about 90 us, more than a whole steering decision, so URLs are cached per
    (key, expiry rounded up to the minute): a URL is valid until at least the `expires_at`
    asked for and at most a minute longer.
    """

    def __init__(self, *, settings: ServiceSettings, cache_size: int = 4096) -> None:
        self._client = s3_presigner(settings)
        self._bucket = settings.origin_bucket
        self._cache: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def __call__(self, *, key: str, expires_at: datetime) -> str:
        wanted = int(expires_at.timestamp())
        rounded = -(-wanted // _ROUND_SECONDS) * _ROUND_SECONDS
        cache_key = (key, rounded)
        with self._lock:
            url = self._cache.get(cache_key)
            if url is not None:
                self._cache.move_to_end(cache_key)
                return url
        expires_in = min(max(rounded - int(time.time()), 1), _MAX_PRESIGN_SECONDS)
        url = self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in
        )
        with self._lock:
            self._cache[cache_key] = url
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return url
