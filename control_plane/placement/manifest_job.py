"""The scheduled manifest job: before each site's fill window opens, place and write manifests.

EventBridge (or the lab's timer) calls `run(settings)` hourly. A site is due when its next
window opens within `lead`, or when one of its appliances has no manifest yet. Writing is
idempotent: a manifest's version is a hash of its content, so an unchanged one is not rewritten.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta

from control_plane.common.settings import ServiceSettings
from control_plane.fleet.context import FleetContext
from control_plane.fleet.snapshot import ApplianceSnapshot, FleetSnapshot, take_snapshot
from control_plane.placement.catalog_source import CatalogUnit, units_from_catalog
from control_plane.placement.fill_schedule import next_window
from control_plane.placement.manifest_builder import FillMember, build_cluster_manifests
from control_plane.placement.models import PlacementPolicy
from control_plane.steering.loader import as_signing_keys
from control_plane.steering.origin import S3OriginSigner
from control_plane.steering.rank import OriginSigner

logger = logging.getLogger(__name__)

DEFAULT_LEAD = timedelta(hours=2)
SOURCE_GRACE = timedelta(hours=1)


def run(settings: ServiceSettings) -> dict[str, object]:
    """Entry point of the scheduled job (ScheduledJob.function)."""
    context = FleetContext.from_settings(settings)
    return write_due_manifests(
        context=context,
        units=units_from_catalog(settings),
        origin=S3OriginSigner(settings=settings),
        now=datetime.now(UTC),
    )


def write_due_manifests(
    *,
    context: FleetContext,
    units: Iterable[CatalogUnit],
    origin: OriginSigner,
    now: datetime,
    policy: PlacementPolicy | None = None,
    lead: timedelta = DEFAULT_LEAD,
    force: bool = False,
    is_due: Callable[[str], bool] | None = None,
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
        due = (
            force
            or window.opens - now <= lead
            or any(
                context.manifests.latest_version(a.appliance.appliance_id) is None
                for a in site_appliances
            )
            or (is_due is not None and is_due(site_id))
        )
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
                sources_expire_at=window.closes + SOURCE_GRACE,
                now=now,
            )
            for manifest in manifests:
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
