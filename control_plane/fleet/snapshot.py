"""A read of the whole fleet at one moment: what steering and the manifest job decide from."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from control_plane.fleet.health import HealthPolicy, HealthRecord, observe_silence
from control_plane.fleet.models import Appliance, Cluster, Lifecycle, Site
from control_plane.fleet.store import FleetStore
from control_plane.manifests.store import ManifestStore
from control_plane.signing.key_store import SiteKeySource, StoredSigningSecret, flatten
from edgefill_contracts.errors import ContractError
from edgefill_contracts.heartbeat import ApplianceState
from edgefill_contracts.holdings import held_units

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApplianceSnapshot:
    appliance: Appliance
    health: HealthRecord
    held_units: frozenset[str]

    @property
    def accepted_secret_ids(self) -> frozenset[str]:
        heartbeat = self.health.last_heartbeat
        return frozenset(heartbeat.accepted_secret_ids) if heartbeat else frozenset()

    @property
    def serving(self) -> bool:
        """Serving by the control plane's decision and by the appliance's own report."""
        heartbeat = self.health.last_heartbeat
        return (
            self.appliance.state is ApplianceState.SERVING
            and heartbeat is not None
            and heartbeat.state is ApplianceState.SERVING
        )

    @property
    def spare_capacity(self) -> float:
        heartbeat = self.health.last_heartbeat
        active = heartbeat.serving.active_connections if heartbeat else 0
        return max(0.05, 1.0 - active / self.appliance.max_connections)


@dataclass
class HeldUnitsCache:
    """Per appliance, the unit order of the manifest it applied (read from S3 once per version)
    and its held units (a bitmap decoded once while it does not change). One entry of each per
    appliance: a new version replaces the old, so the cache never outgrows the fleet."""

    _orders: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    _decoded: dict[str, tuple[str, str, frozenset[str]]] = field(default_factory=dict)

    def units_for(self, manifests: ManifestStore, record: HealthRecord) -> frozenset[str]:
        heartbeat = record.last_heartbeat
        if heartbeat is None or heartbeat.held.manifest_version is None:
            return frozenset()
        version = heartbeat.held.manifest_version
        known_order = self._orders.get(record.appliance_id)
        if known_order is None or known_order[0] != version:
            applied = manifests.unit_order(record.appliance_id, version)
            if applied is None:
                logger.warning(
                    "appliance %s reports manifest %s, which is not in S3; treating it as empty",
                    record.appliance_id,
                    version,
                )
            order = () if applied is None else applied
            known_order = (version, order)
            self._orders[record.appliance_id] = known_order
        bitmap = heartbeat.held.held_units
        if bitmap is not None:
            known = self._decoded.get(record.appliance_id)
            if known is not None and known[:2] == (version, bitmap):
                return known[2]
        try:
            units = held_units(order=known_order[1], held=heartbeat.held)
        except ContractError as exc:
            logger.warning(
                "appliance %s: its held units do not fit manifest %s (%s); treating it as "
                "holding nothing until it reports them again",
                record.appliance_id,
                version,
                exc,
            )
            units = frozenset()
        if bitmap is not None:
            self._decoded[record.appliance_id] = (version, bitmap, units)
        return units


@dataclass(frozen=True)
class FleetSnapshot:
    taken_at: datetime
    sites: dict[str, Site]
    clusters: dict[str, Cluster]
    appliances: list[ApplianceSnapshot]
    signing_secrets: list[StoredSigningSecret]


def take_snapshot(
    store: FleetStore,
    *,
    manifests: ManifestStore,
    secrets: SiteKeySource | None,
    policy: HealthPolicy,
    now: datetime,
    held_cache: HeldUnitsCache | None = None,
    resolve_held: bool = True,
) -> FleetSnapshot:
    """Every non-retired appliance with its health as of `now` and what it holds, and every
    site's active signing keys (none without `secrets`).

    With `resolve_held=False` no held units are resolved (each is empty): for a reader that
    works from the heartbeats' held digests itself (the steering snapshot job).
    """
    cache = held_cache or HeldUnitsCache()
    health = {h.appliance_id: h for h in store.health.scan()}
    appliances = []
    for appliance in store.appliances.scan():
        if appliance.lifecycle is Lifecycle.RETIRED:
            continue
        record = observe_silence(
            health.get(appliance.appliance_id) or HealthRecord(appliance_id=appliance.appliance_id),
            now=now,
            policy=policy,
        )
        appliances.append(
            ApplianceSnapshot(
                appliance=appliance,
                health=record,
                held_units=cache.units_for(manifests, record) if resolve_held else frozenset(),
            )
        )
    sites = {s.site_id: s for s in store.sites.scan()}
    return FleetSnapshot(
        taken_at=now,
        sites=sites,
        clusters={c.cluster_id: c for c in store.clusters.scan()},
        appliances=sorted(appliances, key=lambda a: a.appliance.appliance_id),
        signing_secrets=flatten(secrets.key_sets(sites, now=now)) if secrets is not None else [],
    )
