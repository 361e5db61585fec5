"""The scheduled manifest job: before each site's fill window opens, place and write manifests.

EventBridge (or the lab's timer) calls `run(settings)` hourly, at :15, after the popularity
fold (control_plane.popularity.served_fold, at :05) has added yesterday's serving. Outside a site's fill window
every run recomputes the site's manifests for its next window, so the last run before the
window opens writes what the window fills, from the freshest popularity; while the window is
open nothing changes under a running fill (except for an appliance with no manifest at all).
Writing is idempotent: a version hashes the content and the window it is for, so an unchanged
manifest is not rewritten within one cycle, and each window gets sources valid through it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from control_plane.catalog.units import CatalogUnit, units_from_catalog
from control_plane.common.settings import ServiceSettings
from control_plane.fleet.reads import FleetReads, FleetReadSource
from control_plane.fleet.snapshot import ApplianceSnapshot, FleetSnapshot, take_snapshot
from control_plane.placement.fill_schedule import next_window
from control_plane.placement.manifest_builder import FillMember, build_cluster_manifests
from control_plane.placement.models import PlacementPolicy
from control_plane.popularity.store import PopularityStore
from control_plane.signing.keys import as_signing_keys
from control_plane.signing.origin import OriginSigner, S3OriginSigner

logger = logging.getLogger(__name__)

SOURCE_GRACE = timedelta(hours=1)


class ManifestJobInputs(FleetReadSource, Protocol):
    """The fleet stores the job reads, and the popularity scores it places by."""

    @property
    def popularity(self) -> PopularityStore: ...


@dataclass(frozen=True)
class ManifestJobContext(FleetReads):
    """The manifest job's own context: the fleet reads and the popularity store."""

    popularity: PopularityStore = field(kw_only=True)

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> ManifestJobContext:
        reads = FleetReads.from_settings(settings)
        return cls(
            store=reads.store,
            manifests=reads.manifests,
            secrets=reads.secrets,
            health_policy=reads.health_policy,
            popularity=PopularityStore(settings=settings),
        )


def run(settings: ServiceSettings) -> dict[str, object]:
    """Entry point of the scheduled job (ScheduledJob.function)."""
    return write_due_manifests(
        context=ManifestJobContext.from_settings(settings),
        units=units_from_catalog(settings),
        origin=S3OriginSigner(settings=settings),
        now=datetime.now(UTC),
    )


def write_due_manifests(
    *,
    context: ManifestJobInputs,
    units: Iterable[CatalogUnit],
    origin: OriginSigner,
    now: datetime,
    policy: PlacementPolicy | None = None,
    force: bool = False,
) -> dict[str, object]:
    """Write manifests for every due site's clusters; returns counts for the job's log."""
    catalog = {u.unit_id: u for u in units}
    popularity = {p.unit_id: p.score for p in context.popularity.scores(today=now.date())}
    secrets = context.secrets.active(now=now)
    snapshot = take_snapshot(
        context.store,
        manifests=context.manifests,
        signing_secrets=secrets,
        policy=context.health_policy,
        now=now,
    )
    members = {a.appliance.appliance_id: _fill_member(a) for a in snapshot.appliances}
    by_cluster: dict[str, list[ApplianceSnapshot]] = defaultdict(list)
    for appliance in snapshot.appliances:
        by_cluster[appliance.appliance.cluster_id].append(appliance)

    written = unchanged = 0
    due_sites: list[str] = []
    for site_id, site in sorted(snapshot.sites.items()):
        window = next_window(site.fill_window, now=now)
        site_appliances = [a for a in snapshot.appliances if a.appliance.site_id == site_id]
        filling = window.opens <= now < window.closes and not force
        # Mid-fill, only an appliance with no manifest at all gets one (its peers keep theirs).
        writable = {
            a.appliance.appliance_id
            for a in site_appliances
            if not filling or context.manifests.latest_version(a.appliance.appliance_id) is None
        }
        due = bool(writable)
        if not due or not site_appliances:
            continue
        due_sites.append(site_id)
        isp_members = _isp_members(snapshot, site.isp, members)
        for cluster_id in sorted({a.appliance.cluster_id for a in site_appliances}):
            manifests = build_cluster_manifests(
                cluster_members=[members[a.appliance.appliance_id] for a in by_cluster[cluster_id]],
                isp_members=isp_members,
                units=catalog,
                popularity=popularity,
                policy=policy or PlacementPolicy(),
                signing_keys=as_signing_keys(secrets),
                origin=origin,
                fill_window=site.fill_window,
                fill_opens=window.opens,
                sources_expire_at=window.closes + SOURCE_GRACE,
                now=now,
            )
            for manifest in manifests:
                if manifest.appliance_id not in writable:
                    continue
                if context.manifests.write(manifest):
                    written += 1
                else:
                    unchanged += 1
    logger.info(
        "manifest job: %d written, %d unchanged, sites due: %s", written, unchanged, due_sites
    )
    return {"written": written, "unchanged": unchanged, "sites": due_sites}


def _fill_member(snapshot: ApplianceSnapshot) -> FillMember:
    appliance = snapshot.appliance
    return FillMember(
        appliance_id=appliance.appliance_id,
        cluster_id=appliance.cluster_id,
        base_url=appliance.base_url,
        byte_budget=appliance.byte_budget,
        held_units=snapshot.held_units,
        accepted_secret_ids=snapshot.accepted_secret_ids,
        can_serve_fills=snapshot.health.healthy,
    )


def _isp_members(
    snapshot: FleetSnapshot, isp: str, members: Mapping[str, FillMember]
) -> list[FillMember]:
    return [
        members[a.appliance.appliance_id]
        for a in snapshot.appliances
        if (site := snapshot.sites.get(a.appliance.site_id)) is not None and site.isp == isp
    ]
