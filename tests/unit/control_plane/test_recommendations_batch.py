"""The nightly batch as a pure function: co-occurrence, reasons, cold start, maturity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from control_plane.catalog.models import MaturityRating
from control_plane.recommendations.batch import ProfileFacts, TitleFacts, compute
from control_plane.recommendations.models import EventKind, ReasonKind, ViewingEvent

NOW = datetime(2026, 3, 1, tzinfo=UTC)
TITLES = {
    "t-a": TitleFacts("Alpha", MaturityRating.PG),
    "t-b": TitleFacts("Bravo", MaturityRating.PG),
    "t-c": TitleFacts("Charlie", MaturityRating.R),
    "t-d": TitleFacts("Delta", MaturityRating.G),
    "t-e": TitleFacts("Echo", MaturityRating.G),
}


def watch(profile: str, *titles: str, region: str = "US") -> list[ViewingEvent]:
    return [
        ViewingEvent(
            title_id=t,
            kind=EventKind.PLAY,
            account_id="acct",
            profile_id=profile,
            region=region,
            at=NOW - timedelta(hours=n),
        )
        for n, t in enumerate(titles)
    ]


def test_co_watched_titles_are_picked_with_the_reason() -> None:
    events = watch("p1", "t-a", "t-b") + watch("p2", "t-a", "t-b") + watch("p3", "t-a")
    result = compute(events, titles=TITLES, profiles={}, now=NOW)
    picks = result.picks["acct#p3"].picks
    assert picks[0].title_id == "t-b"
    assert picks[0].reason.kind is ReasonKind.BECAUSE_YOU_WATCHED
    assert picks[0].reason.text == "Because you watched Alpha"
    assert "t-a" not in [p.title_id for p in picks]  # never recommend what was watched


def test_lists_fill_from_the_region_and_respect_maturity() -> None:
    events = watch("p1", "t-c", "t-d") + watch("p2", "t-c", "t-e") + watch("kid", "t-d")
    events += watch("fr", "t-b", region="FR")
    profiles = {"acct#kid": ProfileFacts("kid", "US", MaturityRating.PG)}
    result = compute(events, titles=TITLES, profiles=profiles, now=NOW)
    kid = [p.title_id for p in result.picks["acct#kid"].picks]
    assert "t-c" not in kid  # co-watched with t-d, but rated R
    assert "t-e" in kid  # popular in US, G-rated
    assert "t-b" not in kid  # popular only in FR
    assert result.popular["US"][0].title_id == "t-c"


def test_titles_missing_from_the_catalogue_are_ignored() -> None:
    result = compute(watch("p1", "t-gone", "t-a"), titles=TITLES, profiles={}, now=NOW)
    assert all(p.title_id != "t-gone" for p in result.popular["US"])
