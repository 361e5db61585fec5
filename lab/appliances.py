"""The lab's appliance hosts: podman containers of the Debian systemd image on a lab network,
provisioned by the production playbook (ansible/playbooks/site.yml) over the podman connection."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lab.errors import LabError
from lab.image import podman_env
from lab.plan import LabAppliance, LabPlan, LabSite, shut_fill_window

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
# Which lab this process drives: `make demo` is "lab"; the e2e test runs its own instance
# beside it (its own containers, network and subnet), named by this variable.
INSTANCE_ENV = "EDGEFILL_LAB_INSTANCE"


def instance() -> str:
    return os.environ.get(INSTANCE_ENV, "lab")


def lab_label() -> str:
    return f"edgefill.lab={instance()}"


def network_name() -> str:
    return f"edgefill-{instance()}"


# Host-wide kernel keys a container must not change for the whole machine (see molecule vars).
HOST_WIDE_SYSCTLS = [
    "net.core.default_qdisc",
    "net.core.rmem_max",
    "net.core.wmem_max",
    "net.core.netdev_max_backlog",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "fs.file-max",
]


def container_name(appliance_id: str) -> str:
    return f"edgefill-{instance()}-{appliance_id}"


def podman(args: Sequence[str], *, timeout: float = 120, check: bool = True) -> str:
    try:
        proc = subprocess.run(
            ["podman", *args], env=podman_env(), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"podman {' '.join(args[:3])} did not finish in {timeout:.0f}s") from exc
    if check and proc.returncode != 0:
        raise LabError(f"podman {' '.join(args[:3])} failed: {proc.stderr.strip()[-800:]}")
    return proc.stdout


def ensure_network(plan: LabPlan) -> None:
    existing = json.loads(podman(["network", "ls", "--format", "json"]) or "[]")
    if any(net.get("name") == network_name() for net in existing):
        return
    podman(["network", "create", "--label", lab_label(), "--subnet", plan.subnet, network_name()])


def start_hosts(plan: LabPlan, image: str) -> None:
    """One container per appliance, booting systemd, at its planned address."""
    ensure_network(plan)
    for _site, appliance in plan.all_appliances():
        name = container_name(appliance.appliance_id)
        podman(["rm", "-f", "--ignore", name])
        podman(
            [
                "run",
                "-d",
                "--name",
                name,
                "--hostname",
                appliance.appliance_id,
                "--label",
                lab_label(),
                "--network",
                network_name(),
                "--ip",
                plan.appliance_ip(appliance),
                "--systemd",
                "always",
                "--cap-add",
                "NET_ADMIN",
                "--cap-add",
                "SYS_ADMIN",
                "--security-opt",
                "unmask=/proc/sys",
                image,
                "/sbin/init",
            ]
        )


def stop_host(appliance_id: str) -> None:
    """Stop one appliance's container (systemd shuts down; its address stays reserved)."""
    podman(["stop", "-t", "5", container_name(appliance_id)])


def start_host(appliance_id: str) -> None:
    """Boot a stopped appliance again: systemd starts nginx and the agent as on a real box."""
    podman(["start", container_name(appliance_id)])


def container_names(*, running_only: bool = False) -> list[str]:
    """Every container of this lab instance (only the running ones if `running_only`)."""
    which = [] if running_only else ["-a"]
    return podman(
        ["ps", *which, "--filter", f"label={lab_label()}", "--format", "{{.Names}}"]
    ).split()


REMOVE_ATTEMPTS = 3


def remove_all() -> list[str]:
    """Remove every lab container and the lab network; return the container names removed.

    `podman rm -f` can lose a race with a container that stops while it is being killed
    ("container state improper: stopped"); the next attempt finds it stopped and removes it.
    """
    names = container_names()
    for attempt in range(1, REMOVE_ATTEMPTS + 1):
        remaining = container_names()
        if not remaining:
            break
        try:
            podman(["rm", "-f", "-t", "2", *remaining], timeout=180)
            break
        except LabError as exc:
            if attempt == REMOVE_ATTEMPTS:
                raise
            logger.warning("removing the lab's containers, attempt %d: %s", attempt, exc)
            time.sleep(1)
    podman(["network", "rm", "-f", network_name()], check=False)
    return names


AGENT_BIN = "/opt/edgefill/current/bin/appliance-agent"
LAB_HEARTBEAT_S = 5
LAB_SERVED_REPORT_S = 10
# The agent's service user (appliance_host_service_user): files the CLI writes in the store
# and state directory must stay writable by the daemon.
AGENT_USER = "edgefill"


def exec_in(
    appliance_id: str, argv: Sequence[str], *, timeout: float = 600, user: str = "root"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", "exec", "--user", user, container_name(appliance_id), *argv],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def agent_run(
    appliance_id: str, *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run `appliance-agent <args>` inside the appliance as the agent's service user would;
    LabError unless it exits 0. The caller gets stdout and stderr (the fill's warnings)."""
    proc = exec_in(appliance_id, [AGENT_BIN, *args], timeout=timeout, user=AGENT_USER)
    if proc.returncode != 0:
        raise LabError(
            f"appliance-agent {' '.join(args)} on {appliance_id} exited {proc.returncode}: "
            f"{(proc.stderr or proc.stdout).strip()[-800:]}"
        )
    return proc


def agent(appliance_id: str, *args: str, timeout: float = 600) -> str:
    """Run `appliance-agent <args>` inside the appliance; its stdout (see `agent_run`)."""
    return agent_run(appliance_id, *args, timeout=timeout).stdout


def agent_status(appliance_id: str) -> dict[str, Any]:
    status: dict[str, Any] = json.loads(agent(appliance_id, "status", "--json", timeout=60))
    return status


def write_inventory(
    plan: LabPlan,
    directory: Path,
    *,
    control_plane_url: str,
    admin_token: str,
    bootstrap_tokens: Mapping[str, str],
    wheelhouse: Path,
) -> Path:
    """A static inventory of the lab's containers in the same shape as the example inventory."""
    directory.mkdir(parents=True, exist_ok=True)
    isps: dict[str, dict[str, Any]] = {}
    for site in plan.sites:
        hosts = {
            a.appliance_id: {
                "ansible_host": container_name(a.appliance_id),
                "appliance_agent_bootstrap_token": bootstrap_tokens[a.appliance_id],
            }
            for a in site.appliances
        }
        isp_group = isps.setdefault(f"isp_{site.isp.replace('-', '_')}", {"children": {}})
        isp_group["children"][f"site_{site.site_id}"] = {"hosts": hosts, "vars": _site_vars(site)}
    inventory = {"all": {"children": {"appliances": {"children": isps}}}}
    group_vars = {
        "ansible_connection": "containers.podman.podman",
        "ansible_become_method": "ansible.builtin.su",
        "edgefill_fleet_api_url": control_plane_url,
        "edgefill_fleet_admin_token": admin_token,
        "edgefill_fleet_validate_certs": False,
        "appliance_host_management_networks": [f"{plan.gateway_ip}/32"],
        "appliance_host_ntp_servers": ["0.debian.pool.ntp.org"],
        "appliance_host_sysctl_runtime_exclude": HOST_WIDE_SYSCTLS,
        "appliance_agent_id": "{{ inventory_hostname }}",
        "appliance_agent_control_plane_url": control_plane_url,
        "appliance_agent_admin_token": admin_token,
        "appliance_agent_wheelhouse_dir": str(wheelhouse),
        "appliance_agent_byte_budget": plan.appliance_byte_budget,
        "appliance_agent_health_timeout": 120,
        "appliance_agent_validate_certs": False,
        # Lab only: heartbeats every 5 s (production: 15 s) and at most 20 s apart while the
        # control plane is unreachable, so health, drains and recoveries show in seconds;
        # served reports every 10 s (production: 5 min), so the report shows them.
        "appliance_agent_config_extra": {
            "health": {
                "heartbeat_interval_s": LAB_HEARTBEAT_S,
                "backoff_max_s": 20,
                "served_report_interval_s": LAB_SERVED_REPORT_S,
            }
        },
    }
    (directory / "group_vars").mkdir(exist_ok=True)
    # JSON is YAML: ansible reads these as YAML inventory files.
    (directory / "hosts.yml").write_text(json.dumps(inventory, indent=2, sort_keys=True))
    (directory / "group_vars" / "all.yml").write_text(json.dumps(group_vars, indent=2))
    return directory


def _site_vars(site: LabSite) -> dict[str, Any]:
    return {
        "edgefill_site": site.site_id,
        "appliance_host_timezone": site.timezone,
        "edgefill_site_prefixes": site.prefixes,
        # The fill runs when the lab says so (`appliance-agent fill --now`); the daemon's own
        # window is kept shut so the demo's order (first round, then peers) is deterministic.
        "appliance_agent_fill_window": shut_fill_window(site.timezone),
    }


def provision(inventory: Path, *, log: Path, timeout: float = 900) -> None:
    """Run the production site.yml against the lab inventory; fail with the log's tail."""
    env = {
        **os.environ,
        **podman_env(),
        "ANSIBLE_CONFIG": str(REPO / "ansible" / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        # Per-task timings in the log: where provisioning spends its time.
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
    }
    argv = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i",
        str(inventory),
        str(REPO / "ansible" / "playbooks" / "site.yml"),
    ]
    with log.open("w") as out:
        try:
            proc = subprocess.run(
                argv,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                cwd=REPO / "ansible",
            )
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"site.yml did not finish in {timeout:.0f}s; see {log}") from exc
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise LabError(f"site.yml failed (exit {proc.returncode}); log {log}. Tail:\n{tail}")


def first_round(plan: LabPlan) -> list[LabAppliance]:
    return [a for _s, a in plan.all_appliances() if a.fill_first]


def second_round(plan: LabPlan) -> list[LabAppliance]:
    return [a for _s, a in plan.all_appliances() if not a.fill_first]
