"""The per-instance caches in front of the catalogue table: search index and playback titles."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from control_plane.catalog.index_cache import IndexCache
from control_plane.catalog.models import MaturityRating, Title
from control_plane.catalog.search import SearchFilters
from control_plane.catalog.store import CatalogStore
from control_plane.common.errors import NotFound
from control_plane.playback.title_cache import TitleCache


def make_title(number: int, name: str) -> Title:
    return Title(
        title_id=f"title-{number:04d}",
        name=name,
        year=2000,
        maturity=MaturityRating.G,
        popularity=1.0,
    )


class FakeStore(CatalogStore):
    """Counts reads; holds titles in a dict instead of DynamoDB."""

    def __init__(self, titles: list[Title]) -> None:
        self.titles = {t.title_id: t for t in titles}
        self.scans = 0
        self.gets = 0

    def scan(self) -> Iterator[Title]:
        self.scans += 1
        yield from list(self.titles.values())

    def get(self, title_id: str) -> Title:
        self.gets += 1
        if title_id not in self.titles:
            raise NotFound(f"title {title_id!r} is not in the catalogue")
        return self.titles[title_id]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_index_is_built_once_then_rebuilt_when_stale() -> None:
    store, clock = FakeStore([make_title(1, "Alpha")]), Clock()
    cache = IndexCache(store, max_age_s=300, clock=clock)
    assert cache.get().search("alpha", filters=SearchFilters()).total == 1
    store.titles["title-0002"] = make_title(2, "Alpha Two")
    clock.now += 299
    assert cache.get().search("alpha", filters=SearchFilters()).total == 1  # still cached
    clock.now += 1
    assert cache.get().search("alpha", filters=SearchFilters()).total == 2
    assert store.scans == 2


def test_title_cache_reuses_titles_until_their_ttl() -> None:
    store, clock = FakeStore([make_title(1, "Alpha")]), Clock()
    cache = TitleCache(store, ttl_s=60, clock=clock)
    assert cache.get("title-0001").name == "Alpha"
    store.titles["title-0001"] = make_title(1, "Alpha Renamed")
    assert cache.get("title-0001").name == "Alpha"
    clock.now += 60
    assert cache.get("title-0001").name == "Alpha Renamed"
    assert store.gets == 2


def test_title_cache_does_not_cache_misses_and_stays_bounded() -> None:
    store = FakeStore([make_title(n, f"T{n}") for n in range(1, 6)])
    cache = TitleCache(store, size=2)
    with pytest.raises(NotFound):
        cache.get("title-0099")
    with pytest.raises(NotFound):
        cache.get("title-0099")
    assert store.gets == 2
    for n in range(1, 6):
        cache.get(f"title-{n:04d}")
    cache.get("title-0005")  # still cached
    cache.get("title-0001")  # evicted long ago
    assert store.gets == 2 + 5 + 1
