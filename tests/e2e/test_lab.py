"""The whole lab, smaller: bring it up, fill, play, check the report's numbers, then put it
through the four faults of `make demo-chaos` and check that each one held."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from lab import appliances
from lab.bring_up import bring_up, take_down
from lab.chaos import chaos_on, run_faults
from lab.chaos_report import FaultResult, print_fault
from lab.fill_rounds import FillTrace
from lab.plan import default_plan
from lab.playthrough import build_report
from lab.report import LabReport

pytestmark = [pytest.mark.e2e, pytest.mark.podman, pytest.mark.timeout(900)]


@dataclass
class LabRun:
    report: LabReport
    faults: list[FaultResult]
    fill_trace: FillTrace | None
    control_plane_url: str
    ffmpeg: subprocess.CompletedProcess[str] | None


@pytest.fixture
def lab_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LabRun]:
    if shutil.which("podman") is None:
        pytest.fail("podman is missing: run scripts/bootstrap.sh (make test does)")
    # Our own containers, network and subnet, so a running `make demo` is left alone.
    monkeypatch.setenv(appliances.INSTANCE_ENV, f"e2e{tmp_path.name[-6:].replace('_', '')}")
    plan = default_plan(titles=2).model_copy(update={"subnet_octets": "10.89.42"})
    state = tmp_path / "state"
    with (tmp_path / "console.log").open("w") as log:
        console = Console(file=log, width=140)
        try:
            runtime = bring_up(plan, console, state_dir=state)
            report = build_report(
                plan,
                runtime.control_plane_url,
                runtime.settings(),
                page_base=runtime.player_page_url,
            )
            # A standard player opens the first session from this host, as the demo says.
            ffmpeg = _ffmpeg_plays(report.players[0].hls_url) if report.players else None
            fill_trace = FillTrace.load(state)
            with chaos_on(plan, runtime, state) as chaos:
                faults = run_faults(chaos, on_result=lambda r: print_fault(r, console))
            yield LabRun(
                report=report,
                faults=faults,
                fill_trace=fill_trace,
                control_plane_url=runtime.control_plane_url,
                ffmpeg=ffmpeg,
            )
        finally:
            take_down(console, state_dir=state)


def _ffmpeg_plays(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
         "-i", url, "-map", "0:p:0", "-c", "copy", "-f", "null", "-"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_lab_end_to_end(lab_run: LabRun) -> None:
    report = lab_run.report
    assert report.errors == []
    assert report.plays, "no play happened"
    assert all(play.ok for play in report.plays), [p.error for p in report.plays if not p.ok]
    by_id = {a.appliance_id: a for a in report.appliances}
    assert set(by_id) == {"ams1-a", "ams1-b", "fra1-a"}
    # Round two filled from its cluster peer. If not: the manifest it applied, the hosts its
    # entries named, what the fleet knew of its peer when the fill ran, and the fill's warnings.
    trace = lab_run.fill_trace.member("ams1-b") if lab_run.fill_trace else None
    assert by_id["ams1-b"].fill_bytes_from_peers > 0, (
        f"ams1-b filled {by_id['ams1-b'].fill_bytes_from_origin} bytes from the origin and none "
        f"from its peer; manifest {by_id['ams1-b'].manifest_version}; round trace: "
        f"{trace.model_dump_json(indent=1) if trace else 'none recorded'}"
    )
    assert all(a.objects_held > 0 for a in report.appliances)
    # Inside each covered site every byte came from that site's appliances.
    for site in report.sites:
        assert site.plays > 0 and site.hit_ratio == 1.0, site
    # The client outside every prefix went to the origin.
    outside = [p for p in report.plays if p.client == "dev@elsewhere"]
    assert outside and all(set(p.bytes_by_source) == {"origin"} for p in outside)
    # The agents' serving counters (from nginx's access log) saw at least what the clients got.
    for appliance in report.appliances:
        got = sum(p.bytes_by_source.get(appliance.appliance_id, 0) for p in report.plays)
        assert appliance.bytes_served >= got, appliance
        # Its served reports (for popularity) reached the control plane, each byte once:
        # what the agent counted (2xx bodies, no peer fills) is at least what the clients got,
        # and the control plane holds exactly that (the agent ran since before any play).
        assert got <= appliance.bytes_counted == appliance.bytes_reported, appliance
    assert sum(a.requests_served for a in report.appliances) > 0

    # Standard players: one session per viewer in the report, valid for over an hour, on the
    # control plane this host reaches, and ffmpeg played the first one.
    viewers = {p.client for p in report.plays}
    assert {p.viewer for p in report.players} == viewers
    for player in report.players:
        assert player.hls_url.startswith(lab_run.control_plane_url + "/playback/sessions/")
        assert player.page_url and "hls=" in player.page_url
        left = datetime.fromisoformat(player.expires_at) - datetime.now(UTC)
        assert left > timedelta(hours=1), player
    assert lab_run.ffmpeg is not None and lab_run.ffmpeg.returncode == 0, (
        lab_run.ffmpeg.stderr[-2000:] if lab_run.ffmpeg else "no session"
    )

    # demo-chaos: an appliance stopped mid-play, a drain, the control plane killed, a corrupt
    # file; each fault checks what must happen and undoes itself.
    assert [f.ok for f in lab_run.faults] == [True] * 4, [
        f.model_dump() for f in lab_run.faults if not f.ok
    ]
