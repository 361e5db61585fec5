"""After the fill: every lab client plays titles, then the report is assembled from what the
clients saw, what the agents say (status and /metrics inside each appliance) and the plan."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families

from lab import appliances
from lab.client import ORIGIN, browse, play, sign_up_viewer
from lab.errors import LabError
from lab.plan import LabPlan
from lab.report import ApplianceReport, LabReport, PlayReport, SiteReport

logger = logging.getLogger(__name__)

ACCESS_LOG_FLUSH_WAIT_S = 2.0
METRICS_URL = "http://127.0.0.1:9110/metrics"
_READ_METRICS = f"import urllib.request; print(urllib.request.urlopen({METRICS_URL!r}, timeout=5).read().decode())"


def run_plays(plan: LabPlan, api_url: str) -> tuple[list[PlayReport], list[str]]:
    """Each client signs up, browses, and plays `plays_per_client` titles."""
    plays: list[PlayReport] = []
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
                    plays.append(play(viewer, title_id, content=content))
            except LabError as exc:
                errors.append(f"{client.name}: {exc}")
            finally:
                viewer.api.close()
    return plays, errors


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


def build_report(plan: LabPlan, api_url: str) -> LabReport:
    plays, play_errors = run_plays(plan, api_url)
    # nginx writes its access log in buffers flushed every access_log_flush_s (1 s): the agents
    # count the plays' requests once the lines are on disk.
    time.sleep(ACCESS_LOG_FLUSH_WAIT_S)
    reports, appliance_errors = appliance_reports(plan)
    return LabReport(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        control_plane_url=api_url,
        appliances=reports,
        plays=plays,
        sites=site_reports(plan, plays),
        errors=play_errors + appliance_errors,
    )
