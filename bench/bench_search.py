"""Search latency on a 50,000-title catalogue, in-process: p99 must stay under 20 ms.

The query mix is drawn from the catalogue itself (seeded, so every run asks the same): whole
words, as-you-type prefixes, one- and two-typo words, accent-stripped words, cast names, two-word
queries, a third of them with filters. For scale, the same run times a naive search (fold every
name and test each query word as a substring) on a sample of the queries.
"""

from __future__ import annotations

import random
import statistics
import time

from bench.result import emit, make_result
from control_plane.catalog.models import MaturityRating, Title
from control_plane.catalog.search import SearchFilters, SearchIndex
from control_plane.catalog.text import fold, tokens
from lab.seed.titles import GENRES, synthetic_titles

CATALOGUE = 50_000
QUERIES = 3_000
NAIVE_SAMPLE = 60
BUDGET_MS = 20.0


def _typo(word: str, rng: random.Random, edits: int) -> str:
    for _ in range(edits):
        i = rng.randrange(len(word))
        kind = rng.choice(("swap", "drop", "sub"))
        if kind == "swap" and i + 1 < len(word):
            word = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        elif kind == "drop":
            word = word[:i] + word[i + 1 :]
        else:
            word = word[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + word[i + 1 :]
    return word


def query_mix(titles: list[Title], rng: random.Random) -> list[tuple[str, SearchFilters]]:
    mix = []
    for _ in range(QUERIES):
        title = rng.choice(titles)
        words = title.name.split()
        word = rng.choice(words)
        roll = rng.random()
        if roll < 0.2:
            query = word
        elif roll < 0.4:
            query = fold(word)[: rng.randint(2, 5)]
        elif roll < 0.55:
            query = _typo(fold(word), rng, 1) if len(word) >= 4 else word
        elif roll < 0.65:
            query = _typo(fold(word), rng, 2) if len(word) >= 8 else word
        elif roll < 0.8:
            query = rng.choice(title.cast)
        else:
            query = " ".join(words[:2]) if len(words) > 1 else f"the {word}"
        filters = SearchFilters()
        if rng.random() < 0.33:
            filters = SearchFilters(
                genre=rng.choice(GENRES),
                year_from=rng.choice((None, 1980, 2000)),
                max_maturity=rng.choice((None, MaturityRating.PG_13)),
            )
        mix.append((query, filters))
    return mix


def naive_search(titles: list[Title], folded: list[str], query: str) -> list[Title]:
    words = tokens(query)
    hits = [t for t, name in zip(titles, folded, strict=True) if all(w in name for w in words)]
    return sorted(hits, key=lambda t: -t.popularity)[:20]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    rng = random.Random(20260101)
    titles = list(synthetic_titles(CATALOGUE, seed=11))
    started = time.perf_counter()
    index = SearchIndex(titles)
    build_s = time.perf_counter() - started
    mix = query_mix(titles, rng)
    for query, filters in mix[:200]:  # warm caches (fold's LRU) the way a live instance has them
        index.search(query, filters=filters)
    latencies_ms = []
    empty = 0
    for query, filters in mix:
        t0 = time.perf_counter()
        page = index.search(query, filters=filters, limit=20)
        latencies_ms.append((time.perf_counter() - t0) * 1000)
        empty += page.total == 0
    folded = [fold(t.name) for t in titles]
    naive_ms = []
    for query, _ in mix[:NAIVE_SAMPLE]:
        t0 = time.perf_counter()
        naive_search(titles, folded, query)
        naive_ms.append((time.perf_counter() - t0) * 1000)
    p99 = percentile(latencies_ms, 0.99)
    print(
        f"search: {CATALOGUE} titles, index built in {build_s:.2f} s; {QUERIES} queries "
        f"p50 {statistics.median(latencies_ms):.2f} ms p99 {p99:.2f} ms "
        f"max {max(latencies_ms):.2f} ms; naive scan p50 {statistics.median(naive_ms):.1f} ms"
    )
    emit(
        make_result(
            name="search",
            metric="p99 latency",
            value=p99,
            unit="ms",
            baseline=BUDGET_MS,
            target=1.0,
            direction="lower",
            baseline_is="the issue's budget of 20 ms p99 on 50,000 titles",
            p50_ms=round(statistics.median(latencies_ms), 3),
            p90_ms=round(percentile(latencies_ms, 0.90), 3),
            max_ms=round(max(latencies_ms), 3),
            queries=QUERIES,
            queries_without_results=empty,
            index_build_s=round(build_s, 2),
            naive_scan_p50_ms=round(statistics.median(naive_ms), 2),
            naive_scan_note="substring test of every folded name, no typos or ranking",
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
