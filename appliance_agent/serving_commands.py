"""The serving and health subcommands of `appliance-agent`: register, heartbeat, render-nginx,
drain. Each is `cmd_<name>(config, args) -> exit code`; cli.py parses and dispatches.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from appliance_agent import assembly
from appliance_agent.clock import utc_now
from appliance_agent.config import AgentConfig, load_config
from appliance_agent.credential import load_credential
from appliance_agent.fleet_client import fleet_client_for
from appliance_agent.health.heartbeat import build_heartbeat
from appliance_agent.health.snapshot import ControlPlaneLink
from appliance_agent.serve.apply import refresh_signing_secrets, render_and_install
from edgefill_contracts import ApplianceState

EXIT_OK = 0
EXIT_FAILED = 1


def _say(line: str) -> None:
    """Command output for the operator (stdout; logs go to stderr)."""
    sys.stdout.write(line + "\n")


def cmd_register(config: AgentConfig, args: argparse.Namespace) -> int:
    with fleet_client_for(config, None) as client:
        credential = assembly.register(config, client)
    _say(f"registered {credential.appliance_id}: credential {credential.credential_id}")
    return EXIT_OK


def cmd_render_nginx(config: AgentConfig, args: argparse.Namespace) -> int:
    settings = assembly.serve_settings(config)
    now = utc_now()
    if args.fetch_secrets:
        credential = load_credential(config.credential_file, appliance_id=config.appliance_id)
        with fleet_client_for(config, credential) as client:
            certificates = assembly.certificate_manager(config, client)
            if refresh_signing_secrets(
                settings, fetch=client.signing_secrets, certificates=certificates, now=now
            ):
                _say("fetched new signing secrets; nginx now accepts them")
                return EXIT_OK
            result = render_and_install(settings, certificates=certificates, now=now)
    else:
        result = render_and_install(
            settings, certificates=assembly.certificate_manager(config, None), now=now
        )
    if not result.reloaded:
        state = "installed (nginx not running)"
    elif result.superseded_by is not None:
        state = f"reloaded as part of {result.superseded_by.name}, which superseded it"
    else:
        state = "reloaded"
    _say(f"nginx config {result.release.name} {state}")
    return EXIT_OK


def cmd_drain(config: AgentConfig, args: argparse.Namespace) -> int:
    controller = assembly.drain_controller(assembly.serve_settings(config))
    now = utc_now()
    if args.undrain:
        record = controller.request(ApplianceState.SERVING, now=now, reason="local undrain")
    elif args.wait:
        record = controller.drain_until_done(reason="local drain", clock=utc_now, sleep=time.sleep)
    else:
        record = controller.request(ApplianceState.DRAINING, now=now, reason="local drain")
        record = controller.advance(now=now)
    _say(f"{record.state.value} since {record.since.isoformat()} ({record.reason})")
    return EXIT_OK


def cmd_heartbeat(config: AgentConfig, args: argparse.Namespace) -> int:
    """One heartbeat now (`--dry-run` prints it instead of sending)."""
    credential = load_credential(config.credential_file, appliance_id=config.appliance_id)
    if args.dry_run:
        monitor = assembly.health_monitor(config, link=ControlPlaneLink())
        heartbeat = build_heartbeat(monitor.snapshot(utc_now()), appliance_id=config.appliance_id)
        _say(heartbeat.model_dump_json(indent=2))
        return EXIT_OK
    with fleet_client_for(config, credential) as client:
        task = assembly.heartbeat_task(config, client=client)
        task.beat()
        link = task.monitor.link
    if not link.reachable:
        _say(f"heartbeat failed: {link.last_error}")
        return EXIT_FAILED
    _say("heartbeat sent")
    return EXIT_OK


def _with_config(
    command: Callable[[AgentConfig, argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        return command(load_config(args.config), args)

    return handler


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the subcommands on cli.py's parser; each handler loads the config itself."""
    register = commands.add_parser("register", help="trade the bootstrap token for a credential")
    register.set_defaults(handler=_with_config(cmd_register))

    render = commands.add_parser(
        "render-nginx", help="render nginx from templates, nginx -t, swap in, reload"
    )
    render.add_argument(
        "--fetch-secrets", action="store_true", help="fetch the signing secrets first"
    )
    render.set_defaults(handler=_with_config(cmd_render_nginx))

    drain = commands.add_parser("drain", help="Serving -> Draining (-> Drained)")
    drain.add_argument("--wait", action="store_true", help="wait until Drained")
    drain.add_argument("--undrain", action="store_true", help="back to Serving")
    drain.set_defaults(handler=_with_config(cmd_drain))

    heartbeat = commands.add_parser("heartbeat", help="send one heartbeat now")
    heartbeat.add_argument("--dry-run", action="store_true", help="print it, do not send")
    heartbeat.set_defaults(handler=_with_config(cmd_heartbeat))
