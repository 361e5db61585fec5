"""Titles read through a short-lived per-process cache: playback reads the same few titles often."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from control_plane.catalog.models import Title
from control_plane.catalog.store import CatalogStore


class TitleCache:
    """At most `size` titles, each reused for `ttl_s` seconds (a catalogue edit shows up after)."""

    def __init__(
        self,
        store: CatalogStore,
        *,
        ttl_s: float = 60.0,
        size: int = 2048,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._size = size
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Title]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, title_id: str) -> Title:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(title_id)
            if entry is not None and now - entry[0] < self._ttl_s:
                self._entries.move_to_end(title_id)
                return entry[1]
        title = self._store.get(title_id)  # NotFound propagates, and is not cached
        with self._lock:
            self._entries[title_id] = (now, title)
            self._entries.move_to_end(title_id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return title
