"""The lab report waits for the appliances' served reports, and says which ones fell short."""

from __future__ import annotations

from datetime import UTC, datetime

from control_plane.common.settings import ServiceSettings
from control_plane.popularity.served_reports import ServedReportStore
from edgefill_contracts.served import ServedReport
from lab.playthrough import wait_for_served_reports
from lab.report import PlayReport
from tests.unit.lab.test_report import sample


def played(by_source: dict[str, int]) -> PlayReport:
    """The sample report's play, with these bytes by source."""
    return sample().plays[0].model_copy(update={"bytes_by_source": by_source})


def test_waits_until_each_appliance_reported_what_clients_got(stack: ServiceSettings) -> None:
    plays = [played({"a1": 300, "origin": 50}), played({"a1": 200, "a2": 10})]
    store = ServedReportStore(settings=stack)
    now = datetime.now(UTC)
    for appliance_id, n in (("a1", 500), ("a2", 10)):
        report = ServedReport(report_id="a" * 32, sealed_at=now, by_unit={"t1/360p": n})
        store.record(appliance_id=appliance_id, report=report, now=now)
    reported, errors = wait_for_served_reports(stack, plays, timeout_s=0)
    assert (reported, errors) == ({"a1": 500, "a2": 10}, [])


def test_an_appliance_that_reported_less_is_named_after_the_timeout(
    stack: ServiceSettings,
) -> None:
    store = ServedReportStore(settings=stack)
    now = datetime.now(UTC)
    report = ServedReport(report_id="b" * 32, sealed_at=now, by_unit={"t1/360p": 100})
    store.record(appliance_id="a1", report=report, now=now)
    reported, errors = wait_for_served_reports(stack, [played({"a1": 300})], timeout_s=0)
    assert reported == {"a1": 100}
    assert errors == ["a1 reported 100 served bytes in 0 s; clients got (or its agent counted) 300"]


def test_what_the_agent_counted_raises_the_bar(stack: ServiceSettings) -> None:
    store = ServedReportStore(settings=stack)
    now = datetime.now(UTC)
    report = ServedReport(report_id="c" * 32, sealed_at=now, by_unit={"t1/360p": 300})
    store.record(appliance_id="a1", report=report, now=now)
    reported, errors = wait_for_served_reports(
        stack, [played({"a1": 300})], counted={"a1": 350}, timeout_s=0
    )
    assert reported == {"a1": 300}
    assert errors == ["a1 reported 300 served bytes in 0 s; clients got (or its agent counted) 350"]
