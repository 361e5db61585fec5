"""Deterministic synthetic title metadata: names, genres, cast, years and ratings.

Names mix common English words, accented words (so that folding matters) and invented proper
nouns (so that the vocabulary grows with the catalogue, as real catalogues' does).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from control_plane.catalog.models import MaturityRating, Rendition, Title

GENRES = (
    "Action", "Comedy", "Drama", "Documentary", "Horror", "Romance", "Thriller",
    "Animation", "Science Fiction", "Fantasy", "Crime", "Family",
)  # fmt: skip
_WORDS = (
    "the", "last", "night", "city", "river", "storm", "queen", "king", "shadow", "garden",
    "winter", "summer", "road", "house", "secret", "lost", "silent", "golden", "dark", "blue",
    "empire", "dream", "island", "mountain", "ocean", "fire", "stone", "wolf", "star", "moon",
    "journey", "promise", "letter", "stranger", "harbor", "voyage", "mirror", "echo", "crown",
    "forest", "legend", "kingdom", "desert", "signal", "orbit", "circus", "theory", "station",
)  # fmt: skip
_ACCENTED = (
    "Amélie", "Café", "Señor", "Zoë", "Björk", "Façade", "Déjà", "Naïve", "Über", "Mañana",
    "Straße", "Crème", "Fiancée", "Pokémon", "São", "Málaga", "Ångström", "Élan",
)  # fmt: skip
_SYLLABLES = (
    "ka", "lo", "mi", "ra", "ten", "vor", "zu", "bel", "dri", "ash", "el", "ion", "mar", "quin",
    "sol", "tha", "u", "ven", "wyn", "xa", "yor", "ze", "nor", "pel", "gar", "fen", "cor", "dal",
)  # fmt: skip
_FIRST = ("Ada", "Bruno", "Chloé", "Dmitri", "Eva", "Farid", "Greta", "Hiro", "Inès", "José")
_LAST = ("Nguyen", "Okafor", "Müller", "García", "Rossi", "Kowalski", "Silva", "Tanaka", "Dubois")


def _invented(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def _name(rng: random.Random) -> str:
    words = [rng.choice(_WORDS).capitalize() for _ in range(rng.randint(1, 3))]
    roll = rng.random()
    if roll < 0.5:
        words.insert(rng.randint(0, len(words)), _invented(rng))
    elif roll < 0.65:
        words.insert(rng.randint(0, len(words)), rng.choice(_ACCENTED))
    return " ".join(words)


def _person(rng: random.Random) -> str:
    """A cast member: a common first name, and a common or invented family name."""
    family = rng.choice(_LAST) if rng.random() < 0.3 else _invented(rng)
    return f"{rng.choice(_FIRST)} {family}"


def title_id(number: int) -> str:
    return f"title-{number:04d}"


def synthetic_titles(
    count: int, *, seed: int = 7, renditions: dict[str, tuple[Rendition, ...]] | None = None
) -> Iterator[Title]:
    """`count` titles numbered from 1; popularity follows a Zipf-like curve over the numbers.

    `renditions` maps a title id to its media (the seeder passes what it uploaded).
    """
    rng = random.Random(seed)
    ratings = list(MaturityRating)
    for number in range(1, count + 1):
        tid = title_id(number)
        yield Title(
            title_id=tid,
            name=_name(rng),
            synopsis=f"A generated title for tests and the lab (number {number}).",
            genres=tuple(sorted(rng.sample(GENRES, rng.randint(1, 3)))),
            cast=tuple(_person(rng) for _ in range(3)),
            year=rng.randint(1950, 2026),
            maturity=rng.choice(ratings),
            popularity=round(1000.0 / number**0.8 * rng.uniform(0.5, 1.5), 3),
            renditions=(renditions or {}).get(tid, ()),
        )
