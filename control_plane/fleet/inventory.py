"""The fleet inventory an operator (and the Ansible inventory plugin) reads."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from control_plane.fleet.health import HealthPolicy, HealthRecord, HealthStatus, observe_silence
from control_plane.fleet.models import Lifecycle
from control_plane.fleet.store import FleetStore
from edgefill_contracts.fill_window import FillWindow
from edgefill_contracts.heartbeat import ApplianceState


class InventoryAppliance(BaseModel):
    """One host for the inventory (field names are what the `edgefill_fleet` plugin reads)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    appliance_id: str
    site: str
    cluster: str
    isp: str
    location: str
    address: str = Field(description="The address Ansible connects to (the first one).")
    addresses: list[str]
    public_base_url: str
    capacity_bytes: int
    state: ApplianceState
    lifecycle: Lifecycle
    health: HealthStatus
    healthy: bool
    health_reason: str
    components: dict[str, HealthStatus]
    agent_version: str | None
    manifest_version_applied: str | None


class InventorySite(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    site: str
    isp: str
    location: str
    timezone: str
    fill_window: FillWindow
    prefixes: list[str]


class Inventory(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    generated_at: datetime
    appliances: list[InventoryAppliance]
    sites: list[InventorySite]


def build_inventory(
    store: FleetStore, *, now: datetime, policy: HealthPolicy, include_retired: bool = False
) -> Inventory:
    """Every appliance with its site, cluster, ISP, addresses, state and health as of `now`."""
    sites = {s.site_id: s for s in store.sites.scan()}
    health = {h.appliance_id: h for h in store.health.scan()}
    entries = []
    for appliance in sorted(store.appliances.scan(), key=lambda a: a.appliance_id):
        if appliance.lifecycle is Lifecycle.RETIRED and not include_retired:
            continue
        record = observe_silence(
            health.get(appliance.appliance_id) or HealthRecord(appliance_id=appliance.appliance_id),
            now=now,
            policy=policy,
        )
        site = sites.get(appliance.site_id)
        heartbeat = record.last_heartbeat
        entries.append(
            InventoryAppliance(
                appliance_id=appliance.appliance_id,
                site=appliance.site_id,
                cluster=appliance.cluster_id,
                isp=site.isp if site else "",
                location=site.location if site else "",
                address=appliance.addresses[0],
                addresses=list(appliance.addresses),
                public_base_url=appliance.base_url,
                capacity_bytes=appliance.byte_budget,
                state=appliance.state,
                lifecycle=appliance.lifecycle,
                health=record.status,
                healthy=record.healthy,
                health_reason=record.reason,
                components=record.components,
                agent_version=heartbeat.agent_version if heartbeat else None,
                manifest_version_applied=heartbeat.held.manifest_version if heartbeat else None,
            )
        )
    return Inventory(
        generated_at=now,
        appliances=entries,
        sites=[
            InventorySite(
                site=site.site_id,
                isp=site.isp,
                location=site.location,
                timezone=site.fill_window.timezone,
                fill_window=site.fill_window,
                prefixes=list(site.prefixes),
            )
            for site in sorted(sites.values(), key=lambda s: s.site_id)
        ],
    )
