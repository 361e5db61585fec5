"""In-memory title search: folded tokens, prefix and typo matches, relevance then popularity.

The index holds every title's summary and fits a catalogue of 50,000 titles in tens of
megabytes; a query touches only the postings of the words it matches. Past a few hundred
thousand titles, or when titles change faster than a service instance lives, the path is an
OpenSearch domain behind the same `TitleSearch` protocol (see docs/subscriber.md).

Typos: a word of 4+ letters may carry one edit (letter missing, extra, wrong, or two letters
swapped); a word of 8+ letters may carry two when at least one of them is an extra letter in the
query. The index keeps one-deletion keys per word (SymSpell), which bounds its memory at about
200 MB for 50,000 titles; full two-edit keys would triple that.

Matching: every query word must match (the last one may be a prefix, any of them may carry a
typo). Words that match no title at all are ignored; when nothing matches all the others,
trailing words are dropped one by one, so a stray last word does not empty the page.

Scoring of one query word against one title: the best of its matches, each the match quality
(exact 1.0, prefix 0.7, one typo 0.6, two typos 0.4) times the field weight (name 3, cast 2,
genre 1). A title's score is the sum over the query's words, plus a bonus when its name starts
with the first query word (exactly or as a prefix). Higher scores rank first, then more popular
titles, then by id so that pages are stable.

Everything that touches many titles is a set or dict operation done in C; Python loops run only
over the titles matching every word of a multi-word query.
"""

from __future__ import annotations

import bisect
import heapq
from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from operator import itemgetter
from typing import Protocol

from control_plane.catalog.models import MaturityRating, SearchPage, Title, TitleSummary
from control_plane.catalog.text import allowed_edits, deletes, edit_distance, fold, tokens

MAX_QUERY_WORDS = 8
MAX_PAGE = 50
MAX_OFFSET = 1_000
_FIELD_WEIGHTS = {"name": 3.0, "cast": 2.0, "genre": 1.0}
_EXACT, _PREFIX, _TYPO = 1.0, 0.7, (1.0, 0.6, 0.4)
_NAME_START_BONUS = 2.0
_SHORT_PREFIX = 3  # prefixes this short use a precomputed list of their most frequent words
_PREFIX_EXPANSIONS = 64
_MIN_PREFIX = 2  # a one-letter prefix would match most of the catalogue
_SUMMARY_FIELDS = tuple(TitleSummary.model_fields)


@dataclass(frozen=True)
class SearchFilters:
    """Optional narrowing of a search; None means no limit."""

    genre: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    max_maturity: MaturityRating | None = None


class TitleSearch(Protocol):
    """What the catalog routes need from a search backend (this index, or OpenSearch)."""

    def search(
        self, query: str, *, filters: SearchFilters, offset: int, limit: int
    ) -> SearchPage: ...


class SearchIndex:
    """An immutable index over title summaries; build a new one to reflect catalogue changes."""

    def __init__(self, titles: Iterable[Title]) -> None:
        # Documents are numbered by popularity, so a lower number is the tie-break winner.
        self._docs: list[Title] = sorted(titles, key=lambda t: (-t.popularity, t.title_id))
        first_word: dict[str, set[int]] = defaultdict(set)
        for number, doc in enumerate(self._docs):
            name_words = tokens(doc.name)
            if name_words:
                first_word[name_words[0]].add(number)
        self._first_word = {word: frozenset(docs) for word, docs in first_word.items()}
        by_year: dict[int, set[int]] = defaultdict(set)
        by_genre: dict[str, set[int]] = defaultdict(set)
        by_rating: dict[MaturityRating, set[int]] = defaultdict(set)
        for number, doc in enumerate(self._docs):
            by_rating[doc.maturity].add(number)
            by_year[doc.year].add(number)
            for genre in doc.genres:
                by_genre[fold(genre)].add(number)
        self._by_year = {year: frozenset(docs) for year, docs in by_year.items()}
        self._by_genre = {genre: frozenset(docs) for genre, docs in by_genre.items()}
        self._up_to_rating: dict[MaturityRating, frozenset[int]] = {}
        allowed: set[int] = set()
        for rating in MaturityRating:
            allowed |= by_rating[rating]
            self._up_to_rating[rating] = frozenset(allowed)
        postings: dict[str, dict[int, float]] = defaultdict(dict)
        for number, doc in enumerate(self._docs):
            fields = [("name", doc.name), *(("genre", g) for g in doc.genres)]
            fields += [("cast", person) for person in doc.cast]
            for field, text in fields:
                weight = _FIELD_WEIGHTS[field]
                for word in tokens(text):
                    if postings[word].get(number, 0.0) < weight:
                        postings[word][number] = weight
        # Per word and field weight, the documents holding it: scoring merges these in C.
        self._postings: dict[str, list[tuple[float, tuple[int, ...]]]] = {}
        self._frequency: dict[str, int] = {}
        for word, docs in postings.items():
            by_weight: dict[float, list[int]] = defaultdict(list)
            for number, weight in docs.items():
                by_weight[weight].append(number)
            self._postings[word] = sorted((w, tuple(n)) for w, n in by_weight.items())
            self._frequency[word] = len(docs)
        self._vocabulary = sorted(self._postings)
        by_frequency = sorted(self._vocabulary, key=lambda w: -self._frequency[w])
        self._short_prefixes: dict[str, list[str]] = defaultdict(list)
        for word in by_frequency:
            for size in range(_MIN_PREFIX, min(_SHORT_PREFIX, len(word)) + 1):
                bucket = self._short_prefixes[word[:size]]
                if len(bucket) < _PREFIX_EXPANSIONS:
                    bucket.append(word)
        self._typo_keys: dict[str, list[str]] = defaultdict(list)
        for word in self._vocabulary:
            # One deletion per indexed word keeps the keys to about one per letter of the
            # vocabulary; queries delete up to their own budget (see _expand).
            for key in deletes(word, min(1, allowed_edits(len(word)))):
                self._typo_keys[key].append(word)

    def __len__(self) -> int:
        return len(self._docs)

    def search(
        self, query: str, *, filters: SearchFilters, offset: int = 0, limit: int = 20
    ) -> SearchPage:
        """One page of titles matching `query` and `filters`; an empty query browses by popularity."""
        offset = max(0, min(offset, MAX_OFFSET))
        limit = max(1, min(limit, MAX_PAGE))
        words = list(dict.fromkeys(tokens(query)))[:MAX_QUERY_WORDS]
        allowed = self._allowed(filters)
        if not words:
            everything = range(len(self._docs))
            matches = everything if allowed is None else sorted(allowed)
            total = len(matches)
            page = list(matches[offset : offset + limit])
        else:
            total, page = self._ranked_page(words, allowed, offset=offset, limit=limit)
        return SearchPage(
            query=query,
            total=total,
            offset=offset,
            limit=limit,
            results=[self._summary(n) for n in page],
        )

    def _summary(self, number: int) -> TitleSummary:
        doc = self._docs[number]
        # The title was validated when it was built; copying its fields needs no second check.
        return TitleSummary.model_construct(**{f: getattr(doc, f) for f in _SUMMARY_FIELDS})

    def _allowed(self, filters: SearchFilters) -> frozenset[int] | set[int] | None:
        """The documents the filters let through, or None when nothing is filtered."""
        allowed: frozenset[int] | set[int] | None = None
        if filters.genre is not None:
            allowed = self._by_genre.get(fold(filters.genre), frozenset())
        if filters.max_maturity is not None:
            rated = self._up_to_rating[filters.max_maturity]
            allowed = rated if allowed is None else allowed & rated
        if filters.year_from is not None or filters.year_to is not None:
            low = filters.year_from if filters.year_from is not None else -1
            high = filters.year_to if filters.year_to is not None else 10_000
            in_years = set().union(*(d for y, d in self._by_year.items() if low <= y <= high))
            allowed = in_years if allowed is None else allowed & in_years
        return allowed

    def _ranked_page(
        self, words: list[str], allowed: AbstractSet[int] | None, *, offset: int, limit: int
    ) -> tuple[int, list[int]]:
        """(number of matches, document numbers of the requested page) for a non-empty query."""
        expansions = [self._expand(w, last=n == len(words) - 1) for n, w in enumerate(words)]
        bonus = frozenset().union(
            *(self._first_word.get(t, ()) for t, q in expansions[0].items() if q >= _PREFIX)
        )
        layers = [self._layers(expansion) for expansion in expansions]
        # A word that matches nothing anywhere ('of' in 'queen of the night') is ignored.
        layers = [word for word in layers if word] or layers[:1]
        while True:
            doc_sets = [frozenset().union(*(docs for _, docs in word)) for word in layers]
            matches = frozenset.intersection(*doc_sets)
            if allowed is not None:
                matches = matches & allowed
            if matches or len(layers) == 1:
                break
            layers.pop()  # nothing matches every word: drop the last one and try again
        if len(layers) == 1:
            return len(matches), self._page_by_layers(layers[0], matches, bonus, offset, limit)
        best = [self._best_scores(word) for word in layers]
        scores = {
            n: sum(b[n] for b in best) + (_NAME_START_BONUS if n in bonus else 0.0) for n in matches
        }
        top = heapq.nsmallest(offset + limit, matches, key=lambda n: (-scores[n], n))
        return len(matches), top[offset:]

    def _layers(self, expansion: dict[str, float]) -> list[tuple[float, tuple[int, ...]]]:
        """The documents a query word matches, grouped by score, best first."""
        found = [
            (quality * weight, docs)
            for term, quality in expansion.items()
            for weight, docs in self._postings[term]
        ]
        return sorted(found, key=itemgetter(0), reverse=True)

    @staticmethod
    def _best_scores(layers: list[tuple[float, tuple[int, ...]]]) -> dict[int, float]:
        best: dict[int, float] = {}
        for score, docs in reversed(layers):  # ascending: higher scores overwrite lower ones
            best.update(dict.fromkeys(docs, score))
        return best

    @staticmethod
    def _page_by_layers(
        layers: list[tuple[float, tuple[int, ...]]],
        matches: frozenset[int],
        bonus: frozenset[int],
        offset: int,
        limit: int,
    ) -> list[int]:
        """A one-word page without scoring each document: walk score groups best first."""
        groups: dict[float, set[int]] = defaultdict(set)
        seen: set[int] = set()
        for score, docs in layers:  # best first: a document keeps its best layer's score
            fresh = matches.intersection(docs) - seen
            seen |= fresh
            groups[score + _NAME_START_BONUS] |= fresh & bonus
            groups[score] |= fresh - bonus
        page: list[int] = []
        skip = offset
        for score in sorted(groups, reverse=True):
            group = groups[score]
            if skip >= len(group):
                skip -= len(group)
                continue
            page += sorted(group)[skip : skip + limit - len(page)]
            skip = 0
            if len(page) >= limit:
                break
        return page

    def _expand(self, word: str, *, last: bool) -> dict[str, float]:
        """Index words `word` may mean, with match quality: itself, completions, near misses."""
        found: dict[str, float] = {}
        if word in self._postings:
            found[word] = _EXACT
        if last and len(word) >= _MIN_PREFIX:
            for term in self._completions(word):
                found.setdefault(term, _PREFIX)
        budget = allowed_edits(len(word))
        if budget:
            for key in deletes(word, budget):
                for term in self._typo_keys.get(key, ()):
                    if term in found:
                        continue
                    limit = min(budget, allowed_edits(len(term)))
                    distance = edit_distance(word, term, limit)
                    if 0 < distance <= limit:
                        found[term] = _TYPO[distance]
        return found

    def _completions(self, prefix: str) -> list[str]:
        if len(prefix) <= _SHORT_PREFIX:
            return self._short_prefixes.get(prefix, [])
        start = bisect.bisect_left(self._vocabulary, prefix)
        found = []
        for term in self._vocabulary[start : start + _PREFIX_EXPANSIONS]:
            if not term.startswith(prefix):
                break
            found.append(term)
        return found
