"""Origin URLs for a fill, asked of the fleet API in batches just ahead of need.

A manifest names the origin once, without URLs (a presigned URL per file would be most of its
size); the fleet API hands out short-lived URLs for up to 1,000 keys per call. A fill tells
this resolver the order it will fetch in (`plan`); the first key without a fresh URL brings
the URLs of the next keys of that order with it, so a fill of 280,000 files asks ~280 times,
and a URL is never used within `refresh_margin_s` of its expiry.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from appliance_agent.clock import Clock, utc_now
from appliance_agent.errors import ControlPlaneError
from edgefill_contracts.fleet_api import MAX_ORIGIN_URLS_PER_REQUEST, OriginUrls

logger = logging.getLogger(__name__)

FetchOriginUrls = Callable[[list[str]], OriginUrls]


class OriginUnavailable(ControlPlaneError):
    """The fleet API gave no origin URL for a key (unreachable, refused, or left it out)."""


class OriginUrlResolver:
    """Thread-safe: fill workers share one; a batch is fetched by one worker at a time."""

    def __init__(
        self,
        fetch: FetchOriginUrls,
        *,
        batch_size: int = 500,
        refresh_margin_s: float = 120.0,
        clock: Clock = utc_now,
    ) -> None:
        if not 1 <= batch_size <= MAX_ORIGIN_URLS_PER_REQUEST:
            raise ValueError(f"batch_size must be 1..{MAX_ORIGIN_URLS_PER_REQUEST}")
        self._fetch = fetch
        self._batch_size = batch_size
        self._margin = timedelta(seconds=refresh_margin_s)
        self._clock = clock
        self._order: list[str] = []
        self._position: dict[str, int] = {}
        self._urls: dict[str, tuple[str, datetime]] = {}
        self._lock = threading.Lock()

    def plan(self, keys: Sequence[str]) -> None:
        """The keys the fill will ask for, in the order it will ask."""
        with self._lock:
            self._order = list(keys)
            self._position = {key: index for index, key in enumerate(self._order)}
            self._urls.clear()

    def url_for(self, key: str) -> str:
        """A URL for `key` valid for at least the refresh margin; OriginUnavailable if none."""
        with self._lock:
            known = self._fresh(key)
            if known is not None:
                return known
            batch = self._batch_from(key)
            try:
                answer = self._fetch(batch)
            except ControlPlaneError as exc:
                raise OriginUnavailable(f"no origin URL for {key}: {exc}") from exc
            for got, url in answer.urls.items():
                self._urls[got] = (str(url), answer.expires_at)
            # Keep only what the fill has yet to reach: a long fill must not hold every URL.
            start = self._position.get(key, 0)
            for done in [k for k in self._urls if self._position.get(k, len(self._order)) < start]:
                del self._urls[done]
            logger.debug(
                "origin URLs for %d keys, valid until %s", len(answer.urls), answer.expires_at
            )
            known = self._fresh(key)
            if known is None:
                raise OriginUnavailable(
                    f"the fleet API gave no fresh origin URL for {key} (valid until "
                    f"{answer.expires_at.isoformat()})"
                )
            return known

    def _fresh(self, key: str) -> str | None:
        entry = self._urls.get(key)
        if entry is None or entry[1] - self._margin <= self._clock():
            return None
        return entry[0]

    def _batch_from(self, key: str) -> list[str]:
        batch = [key]
        index = self._position.get(key)
        if index is None:
            return batch
        for candidate in itertools.islice(self._order, index + 1, None):
            if len(batch) == self._batch_size:
                break
            if self._fresh(candidate) is None:
                batch.append(candidate)
        return batch
