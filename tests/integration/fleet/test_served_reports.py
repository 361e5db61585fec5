"""Served reports against moto: stored once per report id, folded once per closed day."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from control_plane.catalog.units import CatalogUnit, UnitFile
from control_plane.common.aws import dynamodb
from control_plane.placement.spec import SERVICE as PLACEMENT
from control_plane.popularity import served_fold
from control_plane.popularity.served_fold import fold_served_reports
from control_plane.popularity.served_reports import FOLD_LOOKBACK
from control_plane.popularity.spec import SERVICE as POPULARITY
from control_plane.popularity.store import PopularityStore
from control_plane.popularity.tables import SERVED_REPORTS_TABLE
from edgefill_contracts.served import MAX_UNIT_BYTES, ServedReport
from tests.integration.fleet.support import START, FleetHarness

DAY = START.date()  # 2026-03-01; reports below arrive at 08:00 that day
AFTER_CLOSE = datetime.combine(DAY + timedelta(days=1), datetime.min.time(), START.tzinfo)
SIZES = {"t1/720p": 1_000, "t2/720p": 4_000}


class FixedNow:
    """Stands in for the fold module's `datetime`: now() is fixed, the rest is datetime's."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self, tz: Any = None) -> datetime:
        return self._now

    def __getattr__(self, name: str) -> Any:
        return getattr(datetime, name)


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
    real_record = PopularityStore.record_served_day

    def crash_after_one_unit(self: PopularityStore, day: date, views: Any) -> int:
        if not views:  # the empty days before the reports' one
            return real_record(self, day, views)
        first = next(iter(views))
        real_record(self, day, {first: views[first]})
        raise RuntimeError("killed mid-fold")

    monkeypatch.setattr(PopularityStore, "record_served_day", crash_after_one_unit)
    with pytest.raises(RuntimeError, match="killed mid-fold"):
        fold(fleet, AFTER_CLOSE + timedelta(minutes=15))
    # The day is not marked folded (the empty days before it are).
    assert fleet.context.served_reports.folded_through() == DAY - timedelta(days=1)
    assert scores(fleet, DAY) == {"t1/720p": 1.0}

    monkeypatch.setattr(PopularityStore, "record_served_day", real_record)
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
    late = AFTER_CLOSE + FOLD_LOOKBACK + timedelta(days=30)
    fleet.context.served_reports.mark_folded(DAY - timedelta(days=400))  # never moves back
    assert fleet.context.served_reports.folded_through() == DAY + timedelta(days=2)
    assert len(fold(fleet, late)["days"]) == FOLD_LOOKBACK.days


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
    assert fleet.context.popularity.record_served_day(DAY, {}) == 0
    stored = {p.unit_id: p for p in fleet.context.popularity.scores(today=DAY)}
    assert stored["t1/720p"].served_through == DAY


def test_the_fold_job_reads_unit_sizes_from_the_catalog(
    fleet: FleetHarness, two_appliances: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    units = [
        CatalogUnit(
            unit_id="t1/720p", files=(UnitFile(key="t1/720p/a.ts", size=250, sha256="0" * 64),)
        )
    ]
    monkeypatch.setattr(served_fold, "units_from_catalog", lambda settings: iter(units))
    monkeypatch.setattr(served_fold, "datetime", FixedNow(AFTER_CLOSE + timedelta(minutes=30)))
    post(fleet, "a1", two_appliances["a1"], report("a", t1__720p=1_000))
    result = served_fold.run(fleet.settings)
    assert DAY.isoformat() in result["days"]  # type: ignore[operator]
    assert scores(fleet, DAY) == {"t1/720p": 4.0}


def test_the_fold_is_a_job_of_its_own_before_the_manifests() -> None:
    # Each declared by the package that owns it (popularity's and placement's specs).
    jobs = {job.name: job for job in (*POPULARITY.jobs, *PLACEMENT.jobs)}
    assert jobs["popularity-fold"].function == "control_plane.popularity.served_fold:run"
    assert jobs["popularity-fold"].schedule == "cron(5 * * * ? *)"
    assert jobs["fleet-manifests"].schedule == "cron(15 * * * ? *)"


def test_an_appliance_reporting_more_than_a_port_can_send_is_scaled_down(
    fleet: FleetHarness, two_appliances: dict[str, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    cap = served_fold.MAX_APPLIANCE_BYTES_PER_DAY
    # a1 claims four times what a 100 Gbit/s port sends in a day, over four reports.
    assert cap <= MAX_UNIT_BYTES
    for report_id in "abef":
        post(fleet, "a1", two_appliances["a1"], report(report_id, t1__720p=cap))
    post(fleet, "a2", two_appliances["a2"], report("c", t2__720p=4_000))
    with caplog.at_level(logging.WARNING):
        result = fold(fleet, AFTER_CLOSE + timedelta(minutes=15))
    assert result["capped_appliances"] == ["a1"]
    assert "a1 reported" in caplog.text and "revoke" in caplog.text
    assert scores(fleet, DAY) == pytest.approx({"t1/720p": cap / 1_000, "t2/720p": 1.0})


def test_a_stored_report_that_no_longer_parses_is_skipped(
    fleet: FleetHarness, two_appliances: dict[str, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    post(fleet, "a1", two_appliances["a1"], report("a", t1__720p=1_000))
    table = dynamodb(fleet.settings).Table(fleet.settings.table_name(SERVED_REPORTS_TABLE.name))
    table.put_item(
        Item={"report_key": "a2#" + "d" * 32, "day": DAY.isoformat(), "doc": "{}", "revision": 1}
    )
    with caplog.at_level(logging.WARNING):
        result = fold(fleet, AFTER_CLOSE + timedelta(minutes=15))
    assert result["reports"] == 1
    assert scores(fleet, DAY) == {"t1/720p": 1.0}
    assert "does not parse" in caplog.text
