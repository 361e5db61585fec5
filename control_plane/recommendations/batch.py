"""The nightly batch: item-to-item co-occurrence picks per profile, popular titles per region.

Two titles co-occur when one profile watched both in the window. A candidate's score for a
profile is the sum, over the titles the profile watched, of their co-occurrence normalised by
the popularity of both (cosine similarity), so blockbusters do not drown every list. The watched
title that contributed most is the reason. Lists are filled from the region's popular titles
(cold start), and a title above the profile's maturity limit is never picked.

`run_nightly(settings)` is the function EventBridge schedules; `python -m
control_plane.recommendations` runs it locally.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from control_plane.auth.profiles import ProfileStore
from control_plane.catalog.models import MaturityRating
from control_plane.catalog.store import CatalogStore
from control_plane.common.settings import ServiceSettings
from control_plane.recommendations.events import EventStore, profile_key
from control_plane.recommendations.models import Pick, PickList, Reason, ReasonKind, ViewingEvent
from control_plane.recommendations.picks import PicksStore

logger = logging.getLogger(__name__)

WINDOW = timedelta(days=90)
PICKS_PER_PROFILE = 20
POPULAR_PER_REGION = 50
MAX_TITLES_PER_PROFILE = 200  # bounds the pairs one heavy viewer contributes


@dataclass(frozen=True)
class TitleFacts:
    name: str
    maturity: MaturityRating


@dataclass(frozen=True)
class ProfileFacts:
    profile_id: str
    region: str
    max_maturity: MaturityRating


@dataclass(frozen=True)
class BatchResult:
    picks: dict[str, PickList]
    popular: dict[str, list[Pick]]


def compute(
    events: Iterable[ViewingEvent],
    *,
    titles: dict[str, TitleFacts],
    profiles: dict[str, ProfileFacts],
    now: datetime,
) -> BatchResult:
    """Pure: picks per profile key and popular per region from the window's events."""
    watched: dict[str, list[str]] = defaultdict(list)
    region_of: dict[str, str] = {}
    for event in sorted(events, key=lambda e: e.at, reverse=True):  # most recent first
        key = profile_key(event.account_id, event.profile_id)
        region_of[key] = event.region
        seen = watched[key]
        new = event.title_id in titles and event.title_id not in seen
        if new and len(seen) < MAX_TITLES_PER_PROFILE:
            seen.append(event.title_id)

    viewers: Counter[str] = Counter()
    together: dict[str, Counter[str]] = defaultdict(Counter)
    by_region: dict[str, Counter[str]] = defaultdict(Counter)
    for key, seen in watched.items():
        viewers.update(seen)
        by_region[region_of[key]].update(seen)
        for a in seen:
            for b in seen:
                if a != b:
                    together[a][b] += 1

    popular = {
        region: [
            Pick(
                title_id=t,
                score=float(n),
                reason=Reason(kind=ReasonKind.POPULAR_IN_REGION, region=region),
            )
            for t, n in counts.most_common(POPULAR_PER_REGION)
        ]
        for region, counts in by_region.items()
    }
    picks: dict[str, PickList] = {}
    for key, seen in watched.items():
        facts = profiles.get(key)
        limit = facts.max_maturity if facts else MaturityRating.NC_17
        region = facts.region if facts else region_of[key]
        allowed = {t for t, f in titles.items() if limit.allows(f.maturity)}
        scores: dict[str, float] = defaultdict(float)
        best_reason: dict[str, tuple[float, str]] = {}
        for source in seen:
            for candidate, both in together[source].items():
                if candidate in seen or candidate not in allowed:
                    continue
                share = both / math.sqrt(viewers[source] * viewers[candidate])
                scores[candidate] += share
                if share > best_reason.get(candidate, (0.0, ""))[0]:
                    best_reason[candidate] = (share, source)
        ranked = sorted(scores, key=lambda t: (-scores[t], t))[:PICKS_PER_PROFILE]
        chosen = [
            Pick(
                title_id=t,
                score=round(scores[t], 6),
                reason=Reason(
                    kind=ReasonKind.BECAUSE_YOU_WATCHED,
                    title_id=best_reason[t][1],
                    title_name=titles[best_reason[t][1]].name,
                ),
            )
            for t in ranked
        ]
        taken = set(seen) | set(ranked)
        for fill in popular.get(region, []):
            if len(chosen) >= PICKS_PER_PROFILE:
                break
            if fill.title_id not in taken and fill.title_id in allowed:
                chosen.append(fill)
                taken.add(fill.title_id)
        profile_id = key.split("#", 1)[1]
        picks[key] = PickList(profile_id=profile_id, generated_at=now, picks=chosen)
    return BatchResult(picks=picks, popular=popular)


def run_nightly(settings: ServiceSettings) -> dict[str, int]:
    """Read the window's events, the catalogue and the profiles; store every list."""
    now = datetime.now(UTC)
    titles = {
        t.title_id: TitleFacts(name=t.name, maturity=t.maturity)
        for t in CatalogStore.from_settings(settings).scan()
    }
    profiles = {
        profile_key(p.account_id, p.profile_id): ProfileFacts(
            profile_id=p.profile_id, region=p.region, max_maturity=p.max_maturity
        )
        for p in ProfileStore.from_settings(settings).scan()
    }
    events = EventStore.from_settings(settings).since(now - WINDOW)
    result = compute(events, titles=titles, profiles=profiles, now=now)
    store = PicksStore.from_settings(settings)
    for region, popular in result.popular.items():
        store.put_popular(region, popular)
    for key, picks in result.picks.items():
        store.put_picks(key, picks)
    logger.info("recommendations: %d profiles, %d regions", len(result.picks), len(result.popular))
    return {"profiles": len(result.picks), "regions": len(result.popular), "titles": len(titles)}
