"""Popularity scores in DynamoDB: one document per unit, decayed to the day of each write."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date

from control_plane.common.documents import DocumentTable
from control_plane.common.settings import ServiceSettings
from control_plane.popularity.decay import DEFAULT_HALF_LIFE_DAYS, decayed_score
from control_plane.popularity.models import StreamedEvent, UnitPopularity
from control_plane.popularity.tables import POPULARITY_TABLE

logger = logging.getLogger(__name__)


def fold_events(
    events: Iterable[StreamedEvent], *, half_life_days: float = DEFAULT_HALF_LIFE_DAYS
) -> dict[str, UnitPopularity]:
    """Sum events per unit as views (bytes / unit size), each decayed to the unit's latest day."""
    folded: dict[str, UnitPopularity] = {}
    for event in events:
        views = UnitPopularity(
            unit_id=event.unit_id,
            score=event.bytes_streamed / event.unit_bytes,
            unit_bytes=event.unit_bytes,
            as_of=event.at.date(),
        )
        previous = folded.get(event.unit_id)
        folded[event.unit_id] = (
            views if previous is None else combine(previous, views, half_life_days=half_life_days)
        )
    return folded


def combine(
    a: UnitPopularity, b: UnitPopularity, *, half_life_days: float = DEFAULT_HALF_LIFE_DAYS
) -> UnitPopularity:
    """Two scores of one unit added on the later of their days; the later size wins."""
    day = max(a.as_of, b.as_of)
    score = sum(
        decayed_score(score=p.score, as_of=p.as_of, today=day, half_life_days=half_life_days)
        for p in (a, b)
    )
    newer = b if b.as_of >= a.as_of else a
    served = [p.served_through for p in (a, b) if p.served_through is not None]
    return UnitPopularity(
        unit_id=a.unit_id,
        score=score,
        unit_bytes=newer.unit_bytes,
        as_of=day,
        served_through=max(served) if served else None,
    )


class PopularityStore:
    """Adds streamed events to unit scores and reads every score decayed to a given day."""

    def __init__(
        self, *, settings: ServiceSettings, half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    ) -> None:
        self._docs = DocumentTable(
            settings=settings,
            spec=POPULARITY_TABLE,
            model=UnitPopularity,
            key_of=lambda p: {"unit_id": p.unit_id},
        )
        self._half_life = half_life_days

    def record(self, events: Iterable[StreamedEvent]) -> int:
        """Fold events into the stored scores; returns how many units changed."""
        folded = fold_events(events, half_life_days=self._half_life)
        for unit_id, delta in folded.items():
            self._docs.upsert(
                {"unit_id": unit_id},
                initial=delta,
                change=self._adder(delta),
                what=f"popularity of {unit_id}",
            )
        return len(folded)

    def record_served_day(self, day: date, views: Mapping[str, UnitPopularity]) -> int:
        """Add one closed day of served views, once per unit; returns the units changed.

        `views` maps unit ids to that day's views (`as_of` = day). Each unit remembers the
        last served day folded into it (`served_through`), so when a fold is interrupted and
        run again, the units it already did are left as they are.
        """
        changed = 0
        for unit_id, delta in views.items():
            marked = delta.model_copy(update={"served_through": day})
            done = False

            def add(old: UnitPopularity, marked: UnitPopularity = marked) -> UnitPopularity:
                nonlocal done
                if _already_has(old, day):
                    done = True
                    return old
                return combine(old, marked, half_life_days=self._half_life)

            self._docs.upsert(
                {"unit_id": unit_id}, initial=marked, change=add, what=f"popularity of {unit_id}"
            )
            changed += 0 if done else 1
        return changed

    def _adder(self, delta: UnitPopularity) -> Callable[[UnitPopularity], UnitPopularity]:
        def add(old: UnitPopularity) -> UnitPopularity:
            return combine(old, delta, half_life_days=self._half_life)

        return add

    def scores(self, *, today: date) -> Iterator[UnitPopularity]:
        """Every unit's score decayed to `today` (scores dated later are returned as they are)."""
        for stored in self._docs.scan():
            yield stored.model_copy(
                update={
                    "score": decayed_score(
                        score=stored.score,
                        as_of=stored.as_of,
                        today=today,
                        half_life_days=self._half_life,
                    )
                }
            )


def _already_has(stored: UnitPopularity, day: date) -> bool:
    return stored.served_through is not None and stored.served_through >= day
