"""`appliance-agent`: the command line of the agent (thin: parse, call one function, exit code).

Each subcommand is one `cmd_<name>(args) -> int` registered in `build_parser()`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TextIO

from appliance_agent import __version__
from appliance_agent.assembly import serving_tasks
from appliance_agent.clock import utc_now
from appliance_agent.config import AgentConfig, load_config
from appliance_agent.daemon import daemon_tasks, run_daemon
from appliance_agent.daemon_lock import single_daemon
from appliance_agent.errors import AgentError, ConfigError
from appliance_agent.fill_cycle import FillCycle, http_client
from appliance_agent.progress import LogProgress, RichProgress
from appliance_agent.scrub import verify_store
from appliance_agent.serving_commands import add_commands as add_serving_commands
from appliance_agent.status import StatusFile
from appliance_agent.window import current_interval, next_interval

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_CONFIG = 2


def cmd_run(args: argparse.Namespace) -> int:
    config = _config(args)
    with (
        single_daemon(config.state_dir),
        http_client(config) as client,
        serving_tasks(config) as serving,
    ):
        run_daemon([*daemon_tasks(config, FillCycle(config, client=client)), *serving])
    return EXIT_OK


def cmd_fill(args: argparse.Namespace) -> int:
    config = _config(args)
    now = utc_now()
    interval = current_interval(config.fill_window, now)
    if interval is None and not args.now:
        opens = next_interval(config.fill_window, now).opens
        print(f"fill window is closed until {opens.isoformat()}; use --now to fill anyway")
        return EXIT_OK
    progress = RichProgress() if sys.stdout.isatty() else LogProgress()
    with http_client(config) as client, progress, _stop_on_signals() as stop:
        result = FillCycle(config, client=client).run_once(
            observer=progress,
            stop=stop,
            deadline=None if args.now or interval is None else interval.closes,
        )
    if result.outcome == "held":
        print(f"fill ok: manifest {result.version} is already held, nothing to do")
        return EXIT_OK
    report = result.report
    if report is None:
        print("no manifest: the control plane gave none and none is cached", file=sys.stderr)
        return EXIT_INCOMPLETE
    print(
        f"fill {report.result}: manifest {report.manifest_version}, fetched "
        f"{report.objects_fetched} objects ({report.bytes_transferred} bytes), failed "
        f"{report.objects_failed}, evicted {report.objects_evicted}, still missing "
        f"{report.missing_after}, in {report.duration_s:.3f} s"
        + (f", stopped: {report.stop_reason}" if report.stop_reason else "")
    )
    return EXIT_OK if report.result == "ok" else EXIT_INCOMPLETE


def cmd_verify(args: argparse.Namespace) -> int:
    report = verify_store(_config(args))
    print(
        f"verified {report.checked} objects ({report.bytes_checked} bytes): "
        f"{len(report.quarantined)} quarantined, {len(report.vanished)} missing from disk"
    )
    return EXIT_OK if report.clean else EXIT_INCOMPLETE


def cmd_status(args: argparse.Namespace) -> int:
    config = _config(args)
    status = StatusFile(config.state_dir).read()
    if args.json:
        print(status.model_dump_json(indent=2))
        return EXIT_OK
    fill = status.fill
    lines = [
        f"activity:          {status.activity}",
        f"manifest version:  {status.manifest_version or '(none applied)'}",
        f"objects held:      {status.objects_held} ({status.bytes_held} bytes)",
        f"missing:           {status.missing_count}",
        f"last fill:         {fill.last_result}"
        + (f" at {fill.last_finished_at.isoformat()}" if fill.last_finished_at else ""),
        f"last fill bytes:   {fill.bytes_done} of {fill.bytes_total} "
        f"(peers {fill.bytes_from_peers}, origin {fill.bytes_from_origin})",
    ]
    lines += [f"error:             {message}" for message in status.reported_errors()]
    print("\n".join(lines))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appliance-agent", description=__doc__)
    parser.add_argument("--version", action="version", version=f"appliance-agent {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        help="config file (default: $EDGEFILL_AGENT_CONFIG or /etc/edgefill/agent.toml)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="the daemon: fill in the window, run periodic tasks")
    run.set_defaults(handler=cmd_run)

    fill = commands.add_parser("fill", help="fill once now (inside the window, or --now)")
    fill.add_argument("--now", action="store_true", help="fill even outside the fill window")
    fill.set_defaults(handler=cmd_fill)

    verify = commands.add_parser("verify", help="re-hash the store, quarantine corrupt objects")
    verify.set_defaults(handler=cmd_verify)

    status = commands.add_parser("status", help="state, manifest, holdings, last fill, errors")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=cmd_status)
    add_serving_commands(commands)  # register, render-nginx, drain, heartbeat
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler])
    # httpx logs every request URL at INFO, presigned signatures and signed-path tokens
    # included; the agent logs its own, redacted, lines instead.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        code: int = args.handler(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except AgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    return code


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is now, so log lines print above a rich progress bar
    (rich swaps sys.stderr while the bar is live) instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _config(args: argparse.Namespace) -> AgentConfig:
    return load_config(args.config)


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event SIGINT/SIGTERM set, so a one-shot fill parks its downloads and exits cleanly."""
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
