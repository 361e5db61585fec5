"""Helpers for the fleet integration tests: a controllable clock, an app client, fixtures' data."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient

from control_plane.common.settings import ServiceSettings
from control_plane.fleet.app import create_app
from control_plane.fleet.context import FleetContext
from control_plane.fleet.health import HealthPolicy
from edgefill_contracts.fleet_api import ManifestLocation
from edgefill_contracts.heartbeat import (
    ApplianceState,
    DiskUsage,
    FillProgress,
    Heartbeat,
    HeldDigest,
    ServingCounters,
)
from edgefill_contracts.manifest import Manifest, decode_manifest

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
POLICY = HealthPolicy(interval_seconds=10, window=5, unhealthy_after=3, healthy_after=2)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class FleetHarness:
    settings: ServiceSettings
    clock: Clock
    context: FleetContext
    client: TestClient
    admin: dict[str, str] = field(default_factory=dict)

    def allocate(self, isp: str, blocks: list[str]) -> None:
        """Add `blocks` to the address space `isp` is registered with."""
        plan = self.client.get("/fleet/v1/admin/isps", headers=self.admin).json()
        allocations = sorted({*plan["isps"].get(isp, []), *blocks})
        response = self.client.put(
            f"/fleet/v1/admin/isps/{isp}", json={"allocations": allocations}, headers=self.admin
        )
        assert response.status_code == 200, response.text

    def put_site(
        self, site_id: str, *, isp: str = "isp-a", prefixes: list[str] | None = None
    ) -> None:
        """A site of `isp` announcing `prefixes`, its ISP registered with them first."""
        prefixes = prefixes or ["198.51.100.0/24"]
        self.allocate(isp, prefixes)
        body = {"isp": isp, "location": "Amsterdam", "prefixes": prefixes}
        response = self.client.put(
            f"/fleet/v1/admin/sites/{site_id}", json=body, headers=self.admin
        )
        assert response.status_code == 200, response.text

    def put_cluster(self, cluster_id: str, site_id: str) -> None:
        response = self.client.put(
            f"/fleet/v1/admin/clusters/{cluster_id}", json={"site_id": site_id}, headers=self.admin
        )
        assert response.status_code == 200, response.text

    def put_appliance(
        self, appliance_id: str, *, site_id: str, cluster_id: str, budget: int = 10**9
    ) -> None:
        body = {
            "site_id": site_id,
            "cluster_id": cluster_id,
            "byte_budget": budget,
            "addresses": ["192.0.2.10"],
            "public_base_url": f"https://{appliance_id}.example.net:8443",
        }
        response = self.client.put(
            f"/fleet/v1/admin/appliances/{appliance_id}", json=body, headers=self.admin
        )
        assert response.status_code == 200, response.text

    def register(self, appliance_id: str) -> dict[str, str]:
        """Issue a bootstrap token and exchange it; returns the Authorization header."""
        token = self.client.post(
            f"/fleet/v1/admin/appliances/{appliance_id}/bootstrap-token", headers=self.admin
        ).json()["bootstrap_token"]
        response = self.client.post(
            "/fleet/v1/register",
            json={"appliance_id": appliance_id, "bootstrap_token": token, "agent_version": "1.0"},
        )
        assert response.status_code == 200, response.text
        credential = response.json()["credential"]
        return {"Authorization": f"Appliance {credential['credential_id']}.{credential['secret']}"}

    def manifest(self, appliance_id: str, auth: dict[str, str]) -> Manifest:
        """The appliance's manifest as the agent gets it: its location from the fleet API, then
        the body from S3 by the presigned URL (no credential), checked against the location."""
        response = self.client.get(f"/fleet/v1/appliances/{appliance_id}/manifest", headers=auth)
        assert response.status_code == 200, response.text
        location = ManifestLocation.model_validate_json(response.content)
        assert response.headers["ETag"] == f'"{location.version}"'
        body = httpx.get(str(location.url), timeout=10).raise_for_status().content
        assert (len(body), hashlib.sha256(body).hexdigest()) == (location.size, location.sha256)
        manifest = decode_manifest(body)
        assert manifest.version == location.version
        return manifest

    def heartbeat(
        self, appliance_id: str, auth: dict[str, str], **overrides: Any
    ) -> dict[str, Any]:
        response = self.client.post(
            f"/fleet/v1/appliances/{appliance_id}/heartbeat",
            content=make_heartbeat(
                appliance_id, sent_at=self.clock.now, **overrides
            ).model_dump_json(),
            headers={**auth, "Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def make_heartbeat(appliance_id: str, *, sent_at: datetime, **overrides: Any) -> Heartbeat:
    fields: dict[str, Any] = {
        "appliance_id": appliance_id,
        "agent_version": "1.0",
        "sent_at": sent_at,
        "state": ApplianceState.SERVING,
        "disk": DiskUsage(total_bytes=100, used_bytes=10, free_bytes=90),
        "held": HeldDigest(),
        "serving": ServingCounters(),
        "fill": FillProgress(),
    }
    fields.update(overrides)
    return Heartbeat(**fields)


def make_harness(settings: ServiceSettings) -> FleetHarness:
    clock = Clock()
    context = FleetContext.from_settings(settings, health_policy=POLICY, clock=clock)
    client = TestClient(create_app(settings, context=context))
    admin = {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}
    return FleetHarness(settings=settings, clock=clock, context=context, client=client, admin=admin)
