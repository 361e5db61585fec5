"""The in-memory search: folding, prefixes, typos, ranking, filters and pages."""

from __future__ import annotations

import pytest

from control_plane.catalog.models import MaturityRating, Title
from control_plane.catalog.search import MAX_PAGE, SearchFilters, SearchIndex
from control_plane.catalog.text import edit_distance, fold


def title(
    number: int,
    name: str,
    *,
    popularity: float = 1.0,
    genres: tuple[str, ...] = ("Drama",),
    cast: tuple[str, ...] = (),
    year: int = 2000,
    maturity: MaturityRating = MaturityRating.PG,
) -> Title:
    return Title(
        title_id=f"title-{number:04d}",
        name=name,
        genres=genres,
        cast=cast,
        year=year,
        maturity=maturity,
        popularity=popularity,
    )


CATALOGUE = [
    title(1, "Amélie", popularity=50, genres=("Comedy", "Romance"), year=2001),
    title(2, "Star Harbor", popularity=90, genres=("Science Fiction",), year=1999),
    title(3, "Star Harbor Returns", popularity=10, genres=("Science Fiction",), year=2004),
    title(4, "Harbor Lights", popularity=99, cast=("Greta Müller",), year=1987),
    title(5, "Straße der Nacht", popularity=5, maturity=MaturityRating.R, year=2010),
    title(6, "Night Station", popularity=70, genres=("Thriller",), maturity=MaturityRating.NC_17),
    title(7, "The Silent Garden", popularity=20, cast=("José García",), year=1975),
]


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    return SearchIndex(CATALOGUE)


def names(index: SearchIndex, query: str, **filters: object) -> list[str]:
    page = index.search(query, filters=SearchFilters(**filters), limit=MAX_PAGE)  # type: ignore[arg-type]
    return [r.name for r in page.results]


@pytest.mark.parametrize(
    ("query", "expected_first"),
    [
        ("amelie", "Amélie"),  # accents folded
        ("AMÉLIE", "Amélie"),  # case folded
        ("strasse", "Straße der Nacht"),  # ß folds to ss
        ("ame", "Amélie"),  # prefix of the last word
        ("amelei", "Amélie"),  # transposition: one typo
        ("silnet garden", "The Silent Garden"),  # typo in a non-last word
        ("mueller", "Harbor Lights"),  # cast, one edit from 'muller'
        ("garcia", "The Silent Garden"),  # cast, accent folded
    ],
)
def test_query_finds_the_title(index: SearchIndex, query: str, expected_first: str) -> None:
    assert names(index, query)[0] == expected_first


def test_every_word_must_match(index: SearchIndex) -> None:
    # 'Harbor Lights' is the most popular, but it does not match 'star'.
    assert names(index, "star harbor") == ["Star Harbor", "Star Harbor Returns"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("harbor qqqqqqq", ["Harbor Lights", "Star Harbor", "Star Harbor Returns"]),  # unknown word
        ("silent of garden", ["The Silent Garden"]),  # 'of' is in no title
        (
            "harbor night",
            ["Harbor Lights", "Star Harbor", "Star Harbor Returns"],
        ),  # no title has both
    ],
)
def test_words_that_cannot_all_match_are_relaxed(
    index: SearchIndex, query: str, expected: list[str]
) -> None:
    assert names(index, query) == expected


def test_equal_relevance_ranks_by_popularity(index: SearchIndex) -> None:
    # Exactly 'harbor' in three names; the name-prefix bonus goes to 'Harbor Lights'.
    assert names(index, "harbor") == ["Harbor Lights", "Star Harbor", "Star Harbor Returns"]


def test_typo_tolerance_grows_with_word_length(index: SearchIndex) -> None:
    assert names(index, "stsr")[:2] == ["Star Harbor", "Star Harbor Returns"]  # 4 letters: 1
    assert names(index, "tne") == []  # 3 letters: no typo allowed, 'the' is not matched
    assert names(index, "silnt gardne")[0] == "The Silent Garden"
    assert names(index, "amxxie") == []  # two edits in a 6-letter word: too far


def test_unknown_words_find_nothing(index: SearchIndex) -> None:
    assert names(index, "zzzzqqq") == []


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"genre": "science fiction"}, {"Star Harbor", "Star Harbor Returns"}),
        ({"year_from": 2000, "year_to": 2005}, {"Amélie", "Star Harbor Returns", "Night Station"}),
        (
            {"max_maturity": MaturityRating.PG_13},
            {t.name for t in CATALOGUE[:4]} | {"The Silent Garden"},
        ),
        ({"genre": "thriller", "max_maturity": MaturityRating.R}, set()),
    ],
)
def test_filters_narrow_an_empty_query(
    index: SearchIndex, filters: dict[str, object], expected: set[str]
) -> None:
    assert set(names(index, "", **filters)) == expected


def test_empty_query_browses_by_popularity(index: SearchIndex) -> None:
    by_popularity = sorted(CATALOGUE, key=lambda t: -t.popularity)
    assert names(index, "") == [t.name for t in by_popularity]


def test_pages_are_disjoint_and_cover_every_match(index: SearchIndex) -> None:
    first = index.search("", filters=SearchFilters(), offset=0, limit=3)
    second = index.search("", filters=SearchFilters(), offset=3, limit=3)
    third = index.search("", filters=SearchFilters(), offset=6, limit=3)
    ids = [r.title_id for page in (first, second, third) for r in page.results]
    assert first.total == len(CATALOGUE)
    assert len(ids) == len(set(ids)) == len(CATALOGUE)


def test_out_of_range_page_parameters_are_clamped(index: SearchIndex) -> None:
    page = index.search("", filters=SearchFilters(), offset=-5, limit=10_000)
    assert (page.offset, page.limit) == (0, MAX_PAGE)


@pytest.mark.parametrize(
    ("a", "b", "limit", "expected"),
    [
        ("night", "night", 2, 0),
        ("night", "nigth", 2, 1),
        ("night", "knight", 1, 1),
        ("abc", "xyz", 1, 2),
    ],
)
def test_edit_distance(a: str, b: str, limit: int, expected: int) -> None:
    assert edit_distance(a, b, limit) == expected


def test_fold_handles_ligatures_and_punctuation() -> None:
    assert fold("ﬁnal—Cut: Déjà Vu!") == "final cut deja vu"


@pytest.mark.parametrize("query", ["harbor", "star harbor", "g"])
def test_one_result_pages_reassemble_the_full_ranking(index: SearchIndex, query: str) -> None:
    full = names(index, query)
    paged = [
        r.name
        for offset in range(len(full) + 1)
        for r in index.search(query, filters=SearchFilters(), offset=offset, limit=1).results
    ]
    assert paged == full


def test_long_words_take_two_typos_when_one_is_an_extra_letter() -> None:
    index = SearchIndex([title(1, "Kalomimar Forest"), title(2, "Unrelated")])
    assert names(index, "kxalomimarr") == ["Kalomimar Forest"]  # two extra letters
    assert names(index, "kaxomimarq") == ["Kalomimar Forest"]  # wrong letter + extra letter
    assert names(index, "kalomimmr") == ["Kalomimar Forest"]  # one wrong letter
