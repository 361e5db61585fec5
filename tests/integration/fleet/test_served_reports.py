"""Served reports against moto: stored once per report id, folded once per closed day."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from control_plane.placement.catalog_source import CatalogUnit, UnitFile
from control_plane.placement.manifest_job import fold_yesterdays_serving
from control_plane.popularity.served_fold import fold_served_reports
from control_plane.popularity.served_reports import RETENTION
from control_plane.popularity.store import PopularityStore
from edgefill_contracts.served import ServedReport
from tests.integration.fleet.support import START, FleetHarness

DAY = START.date()  # 2026-03-01; reports below arrive at 08:00 that day
AFTER_CLOSE = datetime.combine(DAY + timedelta(days=1), datetime.min.time(), START.tzinfo)
SIZES = {"t1/720p": 1_000, "t2/720p": 4_000}


def report(report_id: str, **by_unit: int) -> ServedReport:
    return ServedReport(
        report_id=report_id * 32,
        sealed_at=START,
        by_unit={unit.replace("__", "/"): n for unit, n in by_unit.items()},
    )


def post(fleet: FleetHarness, appliance_id: str, auth: dict[str, str], body: Any) -> Any:
    return fleet.client.post(
        f"/fleet/v1/appliances/{appliance_id}/served",
        content=body if isinstance(body, str) else body.model_dump_json(),
        headers={**auth, "Content-Type": "application/json"},
    )


@pytest.fixture
def two_appliances(fleet: FleetHarness) -> dict[str, dict[str, str]]:
    fleet.put_site("ams")
    fleet.put_cluster("ams-1", "ams")
    auth = {}
    for appliance_id in ("a1", "a2"):
        fleet.put_appliance(appliance_id, site_id="ams", cluster_id="ams-1")
        auth[appliance_id] = fleet.register(appliance_id)
    return auth


def fold(fleet: FleetHarness, now: datetime, sizes: dict[str, int] = SIZES) -> dict[str, Any]:
    return fold_served_reports(
        reports=fleet.context.served_reports,
        popularity=fleet.context.popularity,
        unit_sizes=sizes,
        now=now,
    ).as_log()


def scores(fleet: FleetHarness, day: date) -> dict[str, float]:
    return {p.unit_id: p.score for p in fleet.context.popularity.scores(today=day)}


def test_a_resent_report_is_stored_once(
    fleet: FleetHarness, two_appliances: dict[str, dict[str, str]]
) -> None:
    body = report("a", t1__720p=500)
    first = post(fleet, "a1", two_appliances["a1"], body)
    again = post(fleet, "a1", two_appliances["a1"], body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json() == {"report_id": "a" * 32, "duplicate": False}
    assert again.json() == {"report_id": "a" * 32, "duplicate": True}
    # The same id from another appliance is another report.
    assert post(fleet, "a2", two_appliances["a2"], body).json()["duplicate"] is False
    stored = sorted(r.appliance_id for r in fleet.context.served_reports.on_day(DAY))
    assert stored == ["a1", "a2"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (
            '{"report_id": "' + "a" * 32 + '", "sealed_at": "2026-03-01T08:00:00Z", '
            '"by_unit": {"t1/720p/seg.ts": 5}}',
            422,
        ),
        (
            '{"report_id": "not-hex", "sealed_at": "2026-03-01T08:00:00Z", '
            '"by_unit": {"t1/720p": 5}}',
            422,
        ),
        (
            '{"report_id": "' + "a" * 32 + '", "sealed_at": "2026-03-01T08:00:00Z", '
            '"by_unit": {"t1/720p": 0}}',
            422,
        ),
        (
            '{"report_id": "' + "a" * 32 + '", "sealed_at": "2026-03-01T08:00:00Z", "by_unit": {}}',
            422,
        ),
    ],
)
def test_a_bad_report_is_refused_and_stores_nothing(
    fleet: FleetHarness, two_appliances: dict[str, dict[str, str]], body: str, status: int
) -> None:
    response = post(fleet, "a1", two_appliances["a1"], body)
    assert response.status_code == status, response.text
    assert list(fleet.context.served_reports.on_day(DAY)) == []


def test_an_appliance_reports_only_for_itself(
    fleet: FleetHarness, two_appliances: dict[str, dict[str, str]]
) -> None:
    response = post(fleet, "a2", two_appliances["a1"], report("a", t1__720p=5))
    assert response.status_code == 403, response.text
    assert post(fleet, "a1", {}, report("a", t1__720p=5)).status_code == 401
    assert list(fleet.context.served_reports.on_day(DAY)) == []


def test_a_closed_day_is_folded_once_into_views(
    fleet: FleetHarness, two_appliances: dict[str, dict[str, str]]
) -> None:
    post(fleet, "a1", two_appliances["a1"], report("a", t1__720p=1_500, t2__720p=2_000))
    post(fleet, "a2", two_appliances["a2"], report("b", t1__720p=500))
    # Before the day has closed (plus the delay), nothing is folded.
    early = fold(fleet, AFTER_CLOSE + timedelta(minutes=5))
    assert DAY.isoformat() not in early["days"] and early["reports"] == 0
    assert scores(fleet, DAY) == {}

    result = fold(fleet, AFTER_CLOSE + timedelta(minutes=15))
    assert result["days"] == [DAY.isoformat()]
    assert (result["reports"], result["units_updated"], result["bytes_served"]) == (2, 2, 4_000)
    assert scores(fleet, DAY) == {"t1/720p": 2.0, "t2/720p": 0.5}  # bytes / unit size
    assert fleet.context.served_reports.folded_through() == DAY

    # The next hourly run folds nothing more; the day after, the scores have decayed.
    assert fold(fleet, AFTER_CLOSE + timedelta(hours=1, minutes=15))["days"] == []
    assert scores(fleet, DAY) == {"t1/720p": 2.0, "t2/720p": 0.5}
    assert scores(fleet, DAY + timedelta(days=7)) == pytest.approx(
        {"t1/720p": 1.0, "t2/720p": 0.25}
    )


def test_a_fold_interrupted_part_way_counts_each_unit_once_when_run_again(
    fleet: FleetHarness,
    two_appliances: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    post(fleet, "a1", two_appliances["a1"], report("a", t1__720p=1_000, t2__720p=4_000))
    real_upsert = PopularityStore.record_served_day
    calls: list[str] = []

    def crash_after_one_unit(self: PopularityStore, day: date, events: Any) -> int:
        events = list(events)
        if not events:  # the empty days before the reports' one
            return real_upsert(self, day, events)
        real_upsert(self, day, events[:1])
        calls.append(events[0].unit_id)
        raise RuntimeError("killed mid-fold")

    monkeypatch.setattr(PopularityStore, "record_served_day", crash_after_one_unit)
    with pytest.raises(RuntimeError, match="killed mid-fold"):
        fold(fleet, AFTER_CLOSE + timedelta(minutes=15))
    # The day is not marked folded (the empty days before it are).
    assert fleet.context.served_reports.folded_through() == DAY - timedelta(days=1)
    assert scores(fleet, DAY) == {"t1/720p": 1.0}

    monkeypatch.setattr(PopularityStore, "record_served_day", real_upsert)
    result = fold(fleet, AFTER_CLOSE + timedelta(minutes=20))
    assert result["units_updated"] == 1  # t1 already had the day
    assert scores(fleet, DAY) == {"t1/720p": 1.0, "t2/720p": 1.0}
    assert fleet.context.served_reports.folded_through() == DAY


def test_units_not_in_the_catalog_are_skipped_and_counted(
    fleet: FleetHarness, two_appliances: dict[str, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    post(fleet, "a1", two_appliances["a1"], report("a", t1__720p=1_000, gone__720p=9))
    with caplog.at_level(logging.WARNING):
        result = fold(fleet, AFTER_CLOSE + timedelta(minutes=15))
    assert (result["units_updated"], result["unknown_units"]) == (1, 1)
    assert scores(fleet, DAY) == {"t1/720p": 1.0}
    assert "gone/720p" in caplog.text


def test_days_missed_are_caught_up_oldest_first_within_the_retention(
    fleet: FleetHarness, two_appliances: dict[str, dict[str, str]]
) -> None:
    for offset, report_id in ((0, "a"), (1, "b"), (2, "c")):
        fleet.clock.now = START + timedelta(days=offset)
        post(fleet, "a1", two_appliances["a1"], report(report_id, t1__720p=1_000))
    result = fold(fleet, AFTER_CLOSE + timedelta(days=2, minutes=15))
    assert result["days"][-3:] == [(DAY + timedelta(days=d)).isoformat() for d in range(3)]
    assert result["reports"] == 3
    # Three views, each decayed from its own day to the last one's.
    expected = sum(0.5 ** (d / 7) for d in range(3))
    assert scores(fleet, DAY + timedelta(days=2))["t1/720p"] == pytest.approx(expected)
    # A first fold long after looks back no further than reports are kept.
    late = AFTER_CLOSE + RETENTION + timedelta(days=30)
    fleet.context.served_reports.mark_folded(DAY - timedelta(days=400))  # never moves back
    assert fleet.context.served_reports.folded_through() == DAY + timedelta(days=2)
    assert len(fold(fleet, late)["days"]) == RETENTION.days


def test_admin_events_and_served_days_add_up_and_keep_the_marker(
    fleet: FleetHarness, two_appliances: dict[str, dict[str, str]]
) -> None:
    post(fleet, "a1", two_appliances["a1"], report("a", t1__720p=1_000))
    fold(fleet, AFTER_CLOSE + timedelta(minutes=15))
    event = {
        "title_id": "t1",
        "rendition": "720p",
        "bytes_streamed": 2_000,
        "unit_bytes": 1_000,
        "at": START.isoformat(),
    }
    response = fleet.client.post(
        "/fleet/v1/admin/popularity/events", json={"events": [event]}, headers=fleet.admin
    )
    assert response.json() == {"units_updated": 1}
    assert scores(fleet, DAY) == {"t1/720p": 3.0}
    # The admin write kept the marker: folding the same day again adds nothing.
    assert fleet.context.popularity.record_served_day(DAY, []) == 0
    stored = {p.unit_id: p for p in fleet.context.popularity.scores(today=DAY)}
    assert stored["t1/720p"].served_through == DAY


def test_the_manifest_job_places_even_when_the_fold_fails(
    fleet: FleetHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(day: date) -> Any:
        raise RuntimeError("table gone")

    monkeypatch.setattr(fleet.context.served_reports, "on_day", broken)
    units = [
        CatalogUnit(
            unit_id="t1/720p", files=(UnitFile(key="t1/720p/a.ts", size=10, sha256="0" * 64),)
        )
    ]
    with caplog.at_level(logging.ERROR):
        fold_yesterdays_serving(fleet.context, units=units, now=AFTER_CLOSE + timedelta(hours=1))
    assert "placing without them" in caplog.text
