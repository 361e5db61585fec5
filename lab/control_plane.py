"""The lab's control plane: every service app behind the local gateway under uvicorn, an admin
client for the fleet routes, and the scheduled jobs run on demand (EventBridge's stand-in)."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Mapping
from typing import Any

import httpx

from control_plane.common.settings import ServiceSettings
from control_plane.services import all_services
from lab.errors import LabError
from lab.plan import LabPlan, shut_fill_window
from lab.processes import ProcessTable, free_port

logger = logging.getLogger(__name__)


def start_gateway(
    processes: ProcessTable, *, bind_ip: str, env: Mapping[str, str], port: int | None = None
) -> str:
    """Run all services behind the local gateway on `bind_ip` (on `port`, or a free one, as
    when it restarts where the appliances expect it); return the API base URL."""
    port = port if port is not None else free_port(bind_ip)
    processes.start(
        "control-plane",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "lab.gateway:create_gateway_from_env",
            "--host",
            bind_ip,
            "--port",
            str(port),
            "--no-access-log",
            "--workers",
            "1",
        ],
        env=env,
    )
    url = f"http://{bind_ip}:{port}"
    processes.wait_http("control-plane", f"{url}/fleet/v1/register", timeout=60)
    return url


# Jobs that run all the time, not on demand: the lab's scheduler process runs them.
CONTINUOUS_JOBS = ("steering-snapshot",)
SCHEDULER = "scheduler"


def start_scheduler(processes: ProcessTable, *, env: Mapping[str, str]) -> None:
    """Run the continuous jobs in their own process (lab.scheduler), as EventBridge would."""
    processes.start(SCHEDULER, [sys.executable, "-m", "lab.scheduler", *CONTINUOUS_JOBS], env=env)


def run_job(name: str, settings: ServiceSettings) -> dict[str, Any]:
    """Run one scheduled job by name, as EventBridge would invoke its function."""
    for service in all_services():
        for job in service.jobs:
            if job.name == name:
                module_name, _, attr = job.function.partition(":")
                result: dict[str, Any] = getattr(importlib.import_module(module_name), attr)(
                    settings
                )
                logger.info("job %s: %s", name, result)
                return result
    known = sorted(job.name for s in all_services() for job in s.jobs)
    raise LabError(f"no scheduled job named {name!r}; known: {', '.join(known)}")


class FleetAdmin:
    """The operator's side of the fleet API, as the lab (and an operator's script) uses it."""

    def __init__(self, base_url: str, admin_token: str) -> None:
        self._client = httpx.Client(
            base_url=f"{base_url}/fleet/v1",
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=30,
        )

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self._client.request(method, f"/admin{path}", json=body)
        if response.status_code >= 400:
            raise LabError(f"fleet admin {method} {path}: {response.status_code} {response.text}")
        return response.json()

    def declare(self, plan: LabPlan) -> None:
        """ISPs' address space, sites, clusters and appliances of the plan (idempotent PUTs)."""
        for isp, allocations in plan.isp_allocations().items():
            self._call("PUT", f"/isps/{isp}", {"allocations": allocations})
        for site in plan.sites:
            self._call(
                "PUT",
                f"/sites/{site.site_id}",
                {
                    "isp": site.isp,
                    "location": site.location,
                    "fill_window": shut_fill_window(site.timezone),
                    "prefixes": site.prefixes,
                },
            )
            for cluster_id in sorted({a.cluster_id for a in site.appliances}):
                self._call("PUT", f"/clusters/{cluster_id}", {"site_id": site.site_id})
            for appliance in site.appliances:
                ip = plan.appliance_ip(appliance)
                self._call(
                    "PUT",
                    f"/appliances/{appliance.appliance_id}",
                    {
                        "site_id": site.site_id,
                        "cluster_id": appliance.cluster_id,
                        "byte_budget": plan.appliance_byte_budget,
                        "addresses": [ip],
                        "public_base_url": f"https://{ip}",
                    },
                )

    def bootstrap_token(self, appliance_id: str) -> str:
        token: str = self._call("POST", f"/appliances/{appliance_id}/bootstrap-token")[
            "bootstrap_token"
        ]
        return token

    def appliance(self, appliance_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call("GET", f"/appliances/{appliance_id}")
        return found

    def inventory(self) -> dict[str, dict[str, Any]]:
        """The fleet's view of every appliance (health, state, manifest applied), by id."""
        response = self._client.get("/inventory")
        if response.status_code >= 400:
            raise LabError(f"fleet inventory: {response.status_code} {response.text}")
        return {a["appliance_id"]: a for a in response.json()["appliances"]}

    def drain(self, appliance_id: str, reason: str) -> None:
        self._call("POST", f"/appliances/{appliance_id}/drain", {"reason": reason})

    def undrain(self, appliance_id: str, reason: str) -> None:
        self._call("POST", f"/appliances/{appliance_id}/undrain", {"reason": reason})

    def close(self) -> None:
        self._client.close()
