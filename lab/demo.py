"""`make demo` / `make demo-down`: bring the local lab up and play titles, or take it down."""

from __future__ import annotations

import argparse
import logging
import sys

from rich.console import Console

from lab.bring_up import REPO, STATE_DIR, LabRuntime, bring_up, lab_is_up, take_down
from lab.chaos import chaos_on, check_lab_is_up, run_faults
from lab.chaos_report import print_fault, write_faults
from lab.errors import LabError
from lab.plan import LabPlan, default_plan
from lab.playthrough import build_report
from lab.report import print_report, write_report

REPORT_DIR = REPO / "lab-report"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.demo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="bring the lab up, fill, play titles, report")
    up.add_argument("--titles", type=int, default=6)
    commands.add_parser("down", help="stop every process and container the lab started")
    commands.add_parser("chaos", help="faults on the running lab (`make demo` first)")
    args = parser.parse_args(argv)
    # A wide console when not on a terminal (CI logs), so the report's tables stay readable.
    console = Console(width=None if sys.stdout.isatty() else 160)
    logging.basicConfig(
        level=logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        filename=str(STATE_DIR / "lab.log") if STATE_DIR.exists() else None,
    )
    try:
        if args.command == "down":
            take_down(console)
            return 0
        if args.command == "chaos":
            return run_chaos(default_plan(), console)
        plan = default_plan(titles=args.titles)
        if lab_is_up():
            console.print("[yellow]a lab from an earlier `make demo` is up: taking it down[/]")
            take_down(console)
        runtime = bring_up(plan, console)
        console.print("[bold]-> clients sign up, subscribe, search and play[/bold]")
        report = build_report(
            plan,
            runtime.control_plane_url,
            runtime.settings(),
            page_base=runtime.player_page_url,
        )
        print_report(report, console)
        json_path, html_path = write_report(report, REPORT_DIR)
        console.print(f"report: {json_path} and {html_path}")
        if report.players:
            first = report.players[0]
            console.print(
                f"play {first.title_id} with any player until {first.expires_at} "
                f"({len(report.players)} sessions in report.json 'players'):"
            )
            console.print(f"  HLS:  {first.hls_url}")
            console.print(f"  DASH: {first.dash_url}")
            console.print(f"  ffmpeg -i '{first.hls_url}' -map 0:p:0 -c copy -f null -")
            if first.page_url:
                console.print(f"  page: {first.page_url}")
        console.print(f"control plane: {runtime.control_plane_url}")
        for appliance_id, url in runtime.appliances.items():
            console.print(f"appliance {appliance_id}: {url}")
        console.print("stop it all with: make demo-down")
        return 0 if report.plays and report.all_plays_ok and not report.errors else 1
    except LabError as exc:
        console.print(f"[red]lab error:[/red] {exc}")
        console.print("logs are in lab/.state/logs; `make demo-down` cleans up")
        return 1


def run_chaos(plan: LabPlan, console: Console) -> int:
    """Every fault in turn against the lab `make demo` left running; 0 if every one held."""
    runtime = LabRuntime.load(STATE_DIR)
    check_lab_is_up(plan, runtime)
    console.print("[bold]-> chaos: four faults on the running lab, each undone after[/bold]")
    with chaos_on(plan, runtime, STATE_DIR) as chaos:
        results = run_faults(chaos, on_result=lambda r: print_fault(r, console))
    json_path, html_path = write_faults(results, REPORT_DIR)
    held = sum(r.ok for r in results)
    console.print(f"{held} of {len(results)} faults held; report: {json_path} and {html_path}")
    return 0 if held == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
