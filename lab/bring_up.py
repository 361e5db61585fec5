"""Bring the lab up in order: hosts, AWS in moto, control plane, content, fleet, provisioning,
two fill rounds (the second one from peers), then the client plays; and take it down again."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from rich.console import Console

from control_plane.common.settings import ServiceSettings
from edgefill_build.wheelhouse import WheelhouseError
from edgefill_build.wheelhouse import build as build_wheelhouse
from lab import appliances
from lab.aws import materialize, new_secret, service_env, start_moto
from lab.control_plane import FleetAdmin, start_gateway, start_scheduler
from lab.errors import LabError
from lab.fill_rounds import fill_rounds
from lab.image import ImageBuildError, ensure_image
from lab.plan import LabPlan
from lab.player_page import PAGE, check_players_installed, page_server_command
from lab.processes import ProcessTable, free_port
from lab.seed.media import default_cache_dir
from lab.seed.upload import seed_catalog

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
STATE_DIR = REPO / "lab" / ".state"
NAME_PREFIX = "edgefill-lab"


class LabRuntime(BaseModel):
    """What `make demo` leaves running, saved so `demo-down` and `demo-chaos` can find it."""

    model_config = ConfigDict(extra="forbid")

    control_plane_url: str
    moto_url: str
    admin_token: str
    env: dict[str, str]
    appliances: dict[str, str]  # appliance id -> https base URL
    player_page_url: str | None = None  # the player page's base (players/ on loopback)

    def settings(self) -> ServiceSettings:
        return settings_from_env(self.env)

    def save(self, state_dir: Path) -> None:
        path = state_dir / "runtime.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2))
        tmp.chmod(0o600)
        os.replace(tmp, path)

    @classmethod
    def load(cls, state_dir: Path) -> LabRuntime:
        path = state_dir / "runtime.json"
        if not path.exists():
            raise LabError("the lab is not up (no lab/.state/runtime.json): run `make demo`")
        return cls.model_validate_json(path.read_text())


def settings_from_env(env: dict[str, str]) -> ServiceSettings:
    """ServiceSettings as the service processes see them, built from their environment."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return ServiceSettings()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Steps:
    """Prints each step with its duration; a failing step says which one it was."""

    console: Console

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        started = time.monotonic()
        self.console.print(f"[bold]-> {title}[/bold]")
        try:
            yield
        except LabError:
            self.console.print(f"[red]   failed: {title}[/red]")
            raise
        self.console.print(f"   done in {time.monotonic() - started:.1f}s")


def bring_up(plan: LabPlan, console: Console, state_dir: Path = STATE_DIR) -> LabRuntime:
    """Everything up to a filled fleet; returns what is running (also saved to state_dir)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    processes = ProcessTable(state_dir)
    steps = Steps(console)
    admin_token, signing_secret, session_secret = new_secret(), new_secret(), new_secret()

    with steps.step("appliance image (debootstrap'd Debian 12 with systemd, cached)"):
        try:
            image = ensure_image()
        except ImageBuildError as exc:
            raise LabError(str(exc)) from exc
    with steps.step(f"{len(plan.all_appliances())} appliance hosts as podman containers"):
        appliances.start_hosts(plan, image)
    with steps.step("agent wheelhouse (project wheel + locked base dependencies)"):
        try:
            wheelhouse = state_dir / "wheelhouse"
            build_wheelhouse(wheelhouse)
        except WheelhouseError as exc:
            raise LabError(str(exc)) from exc
    with steps.step("AWS stand-in: moto server, resources materialized from the Pulumi program"):
        moto_url = start_moto(processes, bind_ip=plan.gateway_ip)
        aws = materialize(moto_url, name_prefix=NAME_PREFIX)
        env = service_env(
            aws,
            admin_token=admin_token,
            signing_secret=signing_secret,
            session_secret=session_secret,
        )
        settings = settings_from_env(env)
    with steps.step("control plane: every service behind the local gateway (uvicorn)"):
        api_url = start_gateway(processes, bind_ip=plan.gateway_ip, env=env)
    with steps.step("scheduler: the steering snapshot job, every second"):
        start_scheduler(processes, env=env)
    with steps.step("player page: hls.js and dash.js (players/), on loopback"):
        check_players_installed()
        page_port = free_port()
        processes.start("player-page", page_server_command(page_port), env={})
        player_page_url = f"http://127.0.0.1:{page_port}"
        processes.wait_http("player-page", f"{player_page_url}/{PAGE}")
    with steps.step(f"content: {plan.titles} titles encoded to CMAF with ffmpeg, into the origin"):
        seed_catalog(
            settings,
            titles=plan.titles,
            duration_s=plan.seconds_per_title,
            cache_dir=default_cache_dir(),
        )
    admin = FleetAdmin(api_url, admin_token)
    runtime = LabRuntime(
        control_plane_url=api_url,
        moto_url=moto_url,
        admin_token=admin_token,
        env=env,
        appliances={
            a.appliance_id: f"https://{plan.appliance_ip(a)}" for _s, a in plan.all_appliances()
        },
        player_page_url=player_page_url,
    )
    runtime.save(state_dir)
    try:
        with steps.step("fleet: sites, clusters, appliances and bootstrap tokens"):
            admin.declare(plan)
            tokens = {
                a.appliance_id: admin.bootstrap_token(a.appliance_id)
                for _s, a in plan.all_appliances()
            }
        with steps.step(
            "provision: ansible-playbook playbooks/site.yml over the podman connection"
        ):
            inventory = appliances.write_inventory(
                plan,
                state_dir / "inventory",
                control_plane_url=api_url,
                admin_token=admin_token,
                bootstrap_tokens=tokens,
                wheelhouse=wheelhouse,
            )
            appliances.provision(inventory, log=state_dir / "logs" / "site.yml.log")
        fill_rounds(plan, settings, console, state_dir, step=steps.step)
    finally:
        admin.close()
    return runtime


def lab_is_up(state_dir: Path = STATE_DIR) -> bool:
    """Anything of this lab instance still running: a recorded process or a container."""
    return bool(ProcessTable(state_dir).running()) or bool(appliances.container_names())


def take_down(console: Console, state_dir: Path = STATE_DIR) -> None:
    """Stop every process and remove every container and network the lab started."""
    stopped = ProcessTable(state_dir).stop_all()
    removed = appliances.remove_all()
    runtime = state_dir / "runtime.json"
    if runtime.exists():
        runtime.unlink()
    console.print(f"stopped processes: {', '.join(stopped) or 'none'}")
    console.print(f"removed containers: {', '.join(removed) or 'none'}")
