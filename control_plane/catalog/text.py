"""Text folding for search: accent- and case-insensitive tokens, and a bounded edit distance."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_NON_WORD = re.compile(r"[^0-9a-z]+")


@lru_cache(maxsize=65_536)
def fold(text: str) -> str:
    """Lower-case ASCII-ish form: 'Amélie' -> 'amelie', 'Straße' -> 'strasse', 'ﬁn' -> 'fin'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", stripped).strip()


def tokens(text: str) -> list[str]:
    """The folded words of `text`, in order (duplicates kept)."""
    folded = fold(text)
    return folded.split() if folded else []


def allowed_edits(length: int) -> int:
    """Typos tolerated in a word of `length` characters: none under 4, one under 8, else two."""
    if length < 4:
        return 0
    return 1 if length < 8 else 2


def deletes(word: str, depth: int) -> set[str]:
    """Every string made by deleting up to `depth` characters of `word` (SymSpell's keys)."""
    found = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (a transposition counts one); `limit + 1` past `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        best = i
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
            best = min(best, value)
        if best > limit:
            return limit + 1
        previous2, previous = previous, current
    return min(previous[-1], limit + 1)
