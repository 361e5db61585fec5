"""The fleet's tables as typed document stores, built once per app from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from control_plane.common.documents import DocumentTable
from control_plane.common.settings import ServiceSettings
from control_plane.fleet import tables
from control_plane.fleet.health import HealthRecord
from control_plane.fleet.models import AddressPlan, Appliance, Cluster, Credential, Site
from control_plane.fleet.state_machine import StateChange


@dataclass(frozen=True)
class FleetStore:
    sites: DocumentTable[Site]
    clusters: DocumentTable[Cluster]
    appliances: DocumentTable[Appliance]
    credentials: DocumentTable[Credential]
    health: DocumentTable[HealthRecord]
    audit: DocumentTable[StateChange]
    address_plan: DocumentTable[AddressPlan]

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> FleetStore:
        return cls(
            sites=DocumentTable(
                settings=settings,
                spec=tables.SITES,
                model=Site,
                key_of=lambda s: {"site_id": s.site_id},
            ),
            clusters=DocumentTable(
                settings=settings,
                spec=tables.CLUSTERS,
                model=Cluster,
                key_of=lambda c: {"cluster_id": c.cluster_id},
            ),
            appliances=DocumentTable(
                settings=settings,
                spec=tables.APPLIANCES,
                model=Appliance,
                key_of=lambda a: {"appliance_id": a.appliance_id},
            ),
            credentials=DocumentTable(
                settings=settings,
                spec=tables.CREDENTIALS,
                model=Credential,
                key_of=lambda c: {"credential_id": c.credential_id},
            ),
            health=DocumentTable(
                settings=settings,
                spec=tables.HEALTH,
                model=HealthRecord,
                key_of=lambda h: {"appliance_id": h.appliance_id},
            ),
            audit=DocumentTable(
                settings=settings,
                spec=tables.AUDIT,
                model=StateChange,
                key_of=lambda e: {"appliance_id": e.appliance_id, "event_id": e.event_id},
            ),
            address_plan=DocumentTable(
                settings=settings,
                spec=tables.ADDRESS_PLAN,
                model=AddressPlan,
                key_of=lambda p: {"plan_id": p.plan_id},
            ),
        )
