"""The search index of one service instance, rebuilt from the catalogue table when stale."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from control_plane.catalog.search import SearchIndex
from control_plane.catalog.store import CatalogStore

logger = logging.getLogger(__name__)

DEFAULT_MAX_AGE_S = 300.0


class IndexCache:
    """Builds the index on first use and again once it is `max_age_s` old.

    One builder at a time; readers keep the previous index while a rebuild runs. A catalogue
    edit shows up in search within `max_age_s` on every instance.
    """

    def __init__(
        self,
        store: CatalogStore,
        *,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._index: SearchIndex | None = None
        self._built_at = 0.0

    def get(self) -> SearchIndex:
        index = self._index
        if index is not None and self._clock() - self._built_at < self._max_age_s:
            return index
        with self._lock:
            if self._index is None or self._clock() - self._built_at >= self._max_age_s:
                started = time.perf_counter()
                self._index = SearchIndex(self._store.scan())
                self._built_at = self._clock()
                logger.info(
                    "search index built: %d titles in %.2f s",
                    len(self._index),
                    time.perf_counter() - started,
                )
            return self._index
