"""Fixtures of the Ansible tests: the systemd appliance image, the podman bridge, a molecule run."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.image import ensure_image, podman_env
from tests.integration.ansible.fleet_standin import FleetStandIn, serve
from tests.integration.ansible.support import VENV_BIN, ansible_env, run

RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


def play_recap(output: str) -> dict[str, dict[str, int]]:
    """Host -> {changed, unreachable, failed} from the last PLAY RECAP in ansible's output."""
    recap = output.rsplit("PLAY RECAP", 1)[-1]
    return {
        match["host"]: {k: int(match[k]) for k in ("changed", "unreachable", "failed")}
        for match in RECAP.finditer(recap)
    }


@pytest.fixture(scope="session")
def appliance_image() -> str:
    return ensure_image()


@pytest.fixture(scope="session")
def bridge_gateway() -> str:
    """The host's address on podman's default bridge: containers reach the host there."""
    completed = subprocess.run(
        ["podman", "network", "inspect", "podman"],
        env=podman_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return str(json.loads(completed.stdout)[0]["subnets"][0]["gateway"])


@dataclass
class MoleculeRun:
    """One molecule scenario with its own container names, temp dir and fleet stand-in."""

    scenario: str
    env: dict[str, str]
    hosts: list[str]
    fleet: FleetStandIn
    gateway: str
    stack: ExitStack

    def create(self) -> subprocess.CompletedProcess[str]:
        """Create the containers, then serve the fleet on the bridge they brought up."""
        created = self("create")
        if created.returncode == 0:
            url = self.stack.enter_context(serve(self.fleet, host=self.gateway))
            self.env["EDGEFILL_FLEET_API_URL"] = url
        return created

    def __call__(self, *args: str, timeout: float = 420) -> subprocess.CompletedProcess[str]:
        command, *rest = args
        return run(
            [str(VENV_BIN / "molecule"), command, "-s", self.scenario, *rest],
            env=self.env,
            timeout=timeout,
        )


def molecule_run(
    *,
    scenario: str,
    host_count: int,
    tmp_path: Path,
    image: str,
    gateway: str,
    wheelhouse: Path,
    agent_version: str,
) -> Iterator[MoleculeRun]:
    prefix = f"ef-{uuid.uuid4().hex[:6]}"
    hosts = [f"{prefix}-a{n:02d}" for n in range(1, host_count + 1)]
    bootstrap_token = uuid.uuid4().hex
    fleet = FleetStandIn(
        admin_token=uuid.uuid4().hex, bootstrap_tokens=dict.fromkeys(hosts, bootstrap_token)
    )
    # podman creates its bridge (and so the gateway address) with the first container: the
    # fleet stand-in starts in MoleculeRun.create().
    with ExitStack() as stack:
        env = ansible_env(
            tmp_path,
            EDGEFILL_MOLECULE_PREFIX=prefix,
            EDGEFILL_APPLIANCE_IMAGE=image,
            EDGEFILL_FLEET_ADMIN_TOKEN=fleet.admin_token,
            EDGEFILL_BOOTSTRAP_TOKEN=bootstrap_token,
            EDGEFILL_WHEELHOUSE_DIR=str(wheelhouse),
            EDGEFILL_AGENT_VERSION=agent_version,
        )
        molecule = MoleculeRun(
            scenario=scenario, env=env, hosts=hosts, fleet=fleet, gateway=gateway, stack=stack
        )
        try:
            yield molecule
        finally:
            molecule("destroy", timeout=180)
            subprocess.run(
                ["podman", "rm", "--force", "--ignore", *hosts],
                env=podman_env(),
                capture_output=True,
                check=False,
                timeout=120,
            )
