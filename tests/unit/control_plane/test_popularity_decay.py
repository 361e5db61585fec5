"""Popularity: bytes streamed / unit size, decayed daily."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from control_plane.popularity.decay import decay_factor, decayed_score
from control_plane.popularity.models import StreamedEvent, StreamedEventBatch
from control_plane.popularity.store import fold_events


def event(day: int, streamed: int, *, rendition: str = "720p") -> StreamedEvent:
    return StreamedEvent(
        title_id="title-1",
        rendition=rendition,
        bytes_streamed=streamed,
        unit_bytes=1000,
        at=datetime(2026, 3, day, 20, 0, tzinfo=UTC),
    )


def test_decay_halves_every_half_life() -> None:
    assert decay_factor(days=0) == 1.0
    assert decay_factor(days=7, half_life_days=7) == pytest.approx(0.5)
    assert decay_factor(days=14, half_life_days=7) == pytest.approx(0.25)
    assert decay_factor(days=-3) == 1.0
    assert decayed_score(
        score=8, as_of=date(2026, 3, 1), today=date(2026, 3, 8), half_life_days=7
    ) == pytest.approx(4)
    with pytest.raises(ValueError, match="half-life must be positive"):
        decay_factor(days=1, half_life_days=0)


def test_events_fold_into_views_decayed_to_the_latest_day() -> None:
    folded = fold_events(
        [event(1, 2000), event(8, 500), event(8, 500, rendition="1080p")], half_life_days=7
    )
    assert folded["title-1/720p"].score == pytest.approx(2 * 0.5 + 0.5)
    assert folded["title-1/720p"].as_of == date(2026, 3, 8)
    assert folded["title-1/1080p"].score == pytest.approx(0.5)


@pytest.mark.parametrize(
    "bad",
    [
        {"title_id": "../x"},
        {"rendition": ""},
        {"bytes_streamed": -1},
        {"unit_bytes": 0},
        {"unexpected": 1},
    ],
)
def test_bad_events_are_refused(bad: dict[str, object]) -> None:
    fields = event(1, 1).model_dump() | bad
    with pytest.raises(ValidationError):
        StreamedEvent.model_validate(fields)


def test_batches_are_bounded() -> None:
    with pytest.raises(ValidationError):
        StreamedEventBatch(events=[])
    with pytest.raises(ValidationError):
        StreamedEventBatch(events=[event(1, 1)] * 501)
