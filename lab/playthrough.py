"""After the fill: every lab client plays titles, then the report is assembled from what the
clients saw, what the agents say (status and /metrics inside each appliance) and the plan."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families

from control_plane.common.settings import ServiceSettings
from control_plane.popularity.served_reports import ServedReportStore
from edgefill_contracts import PlaybackSessionLinks
from lab import appliances
from lab.appliances import LAB_HEARTBEAT_S, LAB_SERVED_REPORT_S
from lab.client import (
    ORIGIN,
    browse,
    failed_play,
    play_decision,
    sign_up_viewer,
    start_playback,
)
from lab.errors import LabError
from lab.plan import LabPlan
from lab.player_page import page_url
from lab.report import ApplianceReport, LabReport, PlayerLinks, PlayReport, SiteReport

logger = logging.getLogger(__name__)

ACCESS_LOG_FLUSH_WAIT_S = 2.0
METRICS_URL = "http://127.0.0.1:9110/metrics"
_READ_METRICS = f"import urllib.request; print(urllib.request.urlopen({METRICS_URL!r}, timeout=5).read().decode())"


def run_plays(
    plan: LabPlan, api_url: str, *, page_base: str | None = None
) -> tuple[list[PlayReport], list[PlayerLinks], list[str]]:
    """Each client signs up, browses, and plays `plays_per_client` titles; the session of each
    client's first play is kept for standard players (`PlayerLinks`)."""
    plays: list[PlayReport] = []
    players: list[PlayerLinks] = []
    errors: list[str] = []
    # The appliances' certificates come from the fleet's own CA; the lab client does not
    # install that CA, so it skips verification (a real player trusts the fleet CA).
    with httpx.Client(verify=False, timeout=30) as content:
        for client in plan.clients:
            try:
                viewer = sign_up_viewer(api_url, client)
            except LabError as exc:
                errors.append(f"{client.name}: {exc}")
                continue
            try:
                titles = browse(viewer)
                for title_id in titles[: plan.plays_per_client]:
                    try:
                        decision = start_playback(viewer, title_id)
                    except LabError as exc:
                        plays.append(failed_play(viewer, title_id, exc))
                        continue
                    if not any(p.viewer == client.name for p in players):
                        players.append(
                            player_links(client.name, title_id, decision.links, page_base)
                        )
                    plays.append(play_decision(viewer, title_id, decision, content=content))
            except LabError as exc:
                errors.append(f"{client.name}: {exc}")
            finally:
                viewer.api.close()
    return plays, players, errors


def player_links(
    viewer: str, title_id: str, session: PlaybackSessionLinks, page_base: str | None
) -> PlayerLinks:
    return PlayerLinks(
        viewer=viewer,
        title_id=title_id,
        hls_url=session.hls_url,
        dash_url=session.dash_url,
        steering_url=session.hls_steering_url,
        dash_steering_url=session.dash_steering_url,
        pathways=session.pathways,
        expires_at=session.expires_at.isoformat(timespec="seconds"),
        page_url=page_url(page_base, hls=session.hls_url) if page_base else None,
    )


def _metrics(appliance_id: str) -> dict[str, float]:
    proc = appliances.exec_in(appliance_id, ["python3", "-c", _READ_METRICS], timeout=30)
    if proc.returncode != 0:
        raise LabError(f"metrics of {appliance_id}: {proc.stderr.strip()[-300:]}")
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(proc.stdout):
        for sample in family.samples:
            key = sample.name + "".join(f"|{k}={v}" for k, v in sorted(sample.labels.items()))
            values[key] = sample.value
    return values


def appliance_reports(plan: LabPlan) -> tuple[list[ApplianceReport], list[str]]:
    reports: list[ApplianceReport] = []
    errors: list[str] = []
    for site, appliance in plan.all_appliances():
        try:
            status = appliances.agent_status(appliance.appliance_id)
            metrics = _metrics(appliance.appliance_id)
        except LabError as exc:
            errors.append(str(exc))
            continue
        fill = status.get("fill", {})
        state = next(
            (
                k.split("=", 1)[1]
                for k, v in metrics.items()
                if k.startswith("edgefill_appliance_state|") and v == 1
            ),
            "unknown",
        )
        reports.append(
            ApplianceReport(
                appliance_id=appliance.appliance_id,
                site_id=site.site_id,
                state=state,
                manifest_version=status.get("manifest_version"),
                objects_held=int(status.get("objects_held", 0)),
                bytes_held=int(status.get("bytes_held", 0)),
                fill_bytes_from_peers=int(fill.get("bytes_from_peers", 0)),
                fill_bytes_from_origin=int(fill.get("bytes_from_origin", 0)),
                requests_served=int(
                    sum(v for k, v in metrics.items() if k.startswith("edgefill_serving_requests"))
                ),
                # The text parser names counter samples with their `_total` suffix.
                bytes_served=int(metrics.get("edgefill_serving_sent_bytes_total", 0)),
                bytes_counted=int(metrics.get("edgefill_served_counted_bytes_total", 0)),
                errors=[str(e) for e in status.get("errors", [])][:5],
            )
        )
    return reports, errors


def site_reports(plan: LabPlan, plays: list[PlayReport]) -> list[SiteReport]:
    """Bytes each covered site's clients got from appliances of that site, over all they got."""
    site_of_appliance = {a.appliance_id: s.site_id for s, a in plan.all_appliances()}
    expected = {c.name: c.expect_site for c in plan.clients}
    reports = []
    for site in plan.sites:
        mine = [p for p in plays if expected.get(p.client) == site.site_id]
        total = sum(sum(p.bytes_by_source.values()) for p in mine)
        local = sum(
            n
            for p in mine
            for src, n in p.bytes_by_source.items()
            if src != ORIGIN and site_of_appliance.get(src) == site.site_id
        )
        reports.append(
            SiteReport(
                site_id=site.site_id, plays=len(mine), bytes_from_site=local, bytes_total=total
            )
        )
    return reports


def reported_bytes(settings: ServiceSettings, day: date) -> dict[str, int]:
    """Bytes per appliance in the served reports the control plane filed under `day`."""
    totals: dict[str, int] = defaultdict(int)
    for stored in ServedReportStore(settings=settings).on_day(day):
        totals[stored.appliance_id] += stored.report.bytes_served
    return dict(totals)


def wait_for_served_reports(
    settings: ServiceSettings,
    plays: list[PlayReport],
    *,
    counted: dict[str, int] | None = None,
    timeout_s: float,
) -> tuple[dict[str, int], list[str]]:
    """Wait until each appliance has reported at least the bytes clients got from it and
    what its agent counted (`counted`, when known)."""
    got: dict[str, int] = defaultdict(int)
    for p in plays:
        for source, n in p.bytes_by_source.items():
            if source != ORIGIN:
                got[source] += n
    for appliance_id, n in (counted or {}).items():
        got[appliance_id] = max(got[appliance_id], n)
    today = datetime.now(UTC).date()
    deadline = time.monotonic() + timeout_s
    while True:
        # Around midnight (UTC) a report may be filed under the next day.
        reported = defaultdict(int, reported_bytes(settings, today))
        for appliance_id, n in reported_bytes(settings, today + timedelta(days=1)).items():
            reported[appliance_id] += n
        short = {a: n for a, n in got.items() if reported[a] < n}
        if not short or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    errors = [
        f"{a} reported {reported[a]} served bytes in {timeout_s:.0f} s; clients got (or its "
        f"agent counted) {n}"
        for a, n in sorted(short.items())
    ]
    return dict(reported), errors


def build_report(
    plan: LabPlan, api_url: str, settings: ServiceSettings, *, page_base: str | None = None
) -> LabReport:
    plays, players, play_errors = run_plays(plan, api_url, page_base=page_base)
    # nginx writes its access log in buffers flushed every access_log_flush_s (1 s): the agents
    # count the plays' requests once the lines are on disk.
    time.sleep(ACCESS_LOG_FLUSH_WAIT_S)
    reports, appliance_errors = appliance_reports(plan)
    # Served reports leave each agent every LAB_SERVED_REPORT_S, after a heartbeat.
    reported, report_errors = wait_for_served_reports(
        settings,
        plays,
        counted={r.appliance_id: r.bytes_counted for r in reports},
        timeout_s=3 * (LAB_SERVED_REPORT_S + LAB_HEARTBEAT_S) + 10,
    )
    reports = [
        r.model_copy(update={"bytes_reported": reported.get(r.appliance_id, 0)}) for r in reports
    ]
    appliance_errors += report_errors
    return LabReport(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        control_plane_url=api_url,
        appliances=reports,
        plays=plays,
        sites=site_reports(plan, plays),
        players=players,
        errors=play_errors + appliance_errors,
    )
