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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from control_plane.catalog.units import CatalogUnit, units_from_catalog
from control_plane.common.settings import ServiceSettings
from control_plane.fleet.reads import FleetReads, FleetReadSource
from control_plane.fleet.registry import record_manifest_version
from control_plane.fleet.snapshot import ApplianceSnapshot, FleetSnapshot, take_snapshot
from control_plane.placement.errors import ManifestJobIncomplete
from control_plane.placement.fill_schedule import next_window
from control_plane.placement.manifest_builder import FillMember, build_cluster_manifests
from control_plane.placement.models import PlacementPolicy
from control_plane.popularity.store import PopularityStore
from control_plane.signing.keys import SigningKey, as_signing_keys
from edgefill_contracts.fill_window import FillWindow

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
    """Entry point of the scheduled job (ScheduledJob.function).

    Every due cluster is written whatever another's fate; when some failed, it raises
    ManifestJobIncomplete at the end (after the others are written), so Lambda's retries run
    the job again, and only what changed is rewritten, until the dead-letter queue keeps it.
    """
    result = write_due_manifests(
        context=ManifestJobContext.from_settings(settings),
        units=units_from_catalog(settings),
        now=datetime.now(UTC),
    )
    failed = result["failed"]
    if isinstance(failed, dict) and failed:
        raise ManifestJobIncomplete(failed=failed, written=result["written"])
    return result


@dataclass(frozen=True)
class ClusterWork:
    """One due cluster of one site: everything its manifests are built from."""

    site_id: str
    cluster_id: str
    members: list[FillMember]
    isp_members: list[FillMember]
    writable: frozenset[str]
    fill_window: FillWindow
    fill_opens: datetime
    fill_closes: datetime
    # What each member's registry record names as its newest manifest (heartbeat acks read it).
    recorded_versions: Mapping[str, str | None] = field(default_factory=dict)


def write_due_manifests(
    *,
    context: ManifestJobInputs,
    units: Iterable[CatalogUnit],
    now: datetime,
    policy: PlacementPolicy | None = None,
    force: bool = False,
) -> dict[str, object]:
    """Write manifests for every due site's clusters, one cluster at a time; returns counts
    for the job's log and `failed` (cluster id -> reason) for the clusters that could not be
    written: a failure is recorded and the other clusters carry on."""
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
    keys = as_signing_keys(secrets)
    work = due_clusters(context=context, snapshot=snapshot, now=now, force=force)
    written = unchanged = 0
    failed: dict[str, str] = {}
    for item in work:
        try:
            done = write_cluster_manifests(
                context=context,
                work=item,
                units=catalog,
                popularity=popularity,
                policy=policy or PlacementPolicy(),
                signing_keys=keys,
                now=now,
            )
        except Exception as exc:
            # One cluster over its limit, or a store error, must not stop the sites after it.
            logger.exception("manifest job: cluster %s failed; carrying on", item.cluster_id)
            failed[item.cluster_id] = f"{type(exc).__name__}: {exc}"
            continue
        written += done.written
        unchanged += done.unchanged
    due_sites = sorted({item.site_id for item in work})
    logger.info(
        "manifest job: %d written, %d unchanged, sites due: %s, clusters failed: %s",
        written,
        unchanged,
        due_sites,
        sorted(failed),
    )
    return {"written": written, "unchanged": unchanged, "sites": due_sites, "failed": failed}


def due_clusters(
    *, context: ManifestJobInputs, snapshot: FleetSnapshot, now: datetime, force: bool = False
) -> list[ClusterWork]:
    """The clusters whose manifests are due now, in a fixed order (site, then cluster)."""
    members = {a.appliance.appliance_id: _fill_member(a) for a in snapshot.appliances}
    by_cluster: dict[str, list[ApplianceSnapshot]] = defaultdict(list)
    by_site: dict[str, list[ApplianceSnapshot]] = defaultdict(list)
    for appliance in snapshot.appliances:
        by_cluster[appliance.appliance.cluster_id].append(appliance)
        by_site[appliance.appliance.site_id].append(appliance)
    by_isp: dict[str, list[FillMember]] = defaultdict(list)
    for appliance in snapshot.appliances:
        site_of = snapshot.sites.get(appliance.appliance.site_id)
        if site_of is not None:
            by_isp[site_of.isp].append(members[appliance.appliance.appliance_id])
    work: list[ClusterWork] = []
    for site_id, site in sorted(snapshot.sites.items()):
        window = next_window(site.fill_window, now=now)
        site_appliances = by_site.get(site_id, [])
        filling = window.opens <= now < window.closes and not force
        # Mid-fill, only an appliance with no manifest at all gets one (its peers keep theirs).
        writable = frozenset(
            a.appliance.appliance_id
            for a in site_appliances
            if not filling or _written_version(context, a) is None
        )
        if not writable or not site_appliances:
            continue
        isp_members = by_isp.get(site.isp, [])
        for cluster_id in sorted({a.appliance.cluster_id for a in site_appliances}):
            work.append(
                ClusterWork(
                    site_id=site_id,
                    cluster_id=cluster_id,
                    members=[members[a.appliance.appliance_id] for a in by_cluster[cluster_id]],
                    isp_members=isp_members,
                    writable=writable,
                    fill_window=site.fill_window,
                    fill_opens=window.opens,
                    fill_closes=window.closes,
                    recorded_versions={
                        a.appliance.appliance_id: a.appliance.manifest_version
                        for a in by_cluster[cluster_id]
                    },
                )
            )
    return work


@dataclass(frozen=True)
class ClusterWritten:
    written: int
    unchanged: int


def write_cluster_manifests(
    *,
    context: ManifestJobInputs,
    work: ClusterWork,
    units: Mapping[str, CatalogUnit],
    popularity: Mapping[str, float],
    policy: PlacementPolicy,
    signing_keys: Sequence[SigningKey],
    now: datetime,
) -> ClusterWritten:
    """Place one cluster and write its writable members' manifests (unchanged ones are not
    rewritten); raises whatever placement or the store raise, for the caller to record."""
    manifests = build_cluster_manifests(  # made one at a time, as they are written
        cluster_members=work.members,
        isp_members=work.isp_members,
        units=units,
        popularity=popularity,
        policy=policy,
        signing_keys=signing_keys,
        fill_window=work.fill_window,
        fill_opens=work.fill_opens,
        sources_expire_at=work.fill_closes + SOURCE_GRACE,
        now=now,
        only=work.writable,
    )
    written = unchanged = 0
    for manifest in manifests:
        if context.manifests.write(manifest, now=now):
            written += 1
        else:
            unchanged += 1
        # After S3 (an ack never names a body not there); again on a later run if this failed.
        if work.recorded_versions.get(manifest.appliance_id) != manifest.version:
            record_manifest_version(
                context.store, appliance_id=manifest.appliance_id, version=manifest.version
            )
    return ClusterWritten(written=written, unchanged=unchanged)


def _written_version(context: ManifestJobInputs, snapshot: ApplianceSnapshot) -> str | None:
    """The newest manifest in S3 for this appliance; its registry record is brought in line
    when an earlier run wrote the manifest but failed to record it (heartbeat acks read the
    record), which a run outside the window would otherwise be the first to repair."""
    appliance_id = snapshot.appliance.appliance_id
    written = context.manifests.latest_version(appliance_id)
    if written is not None and written != snapshot.appliance.manifest_version:
        try:
            record_manifest_version(context.store, appliance_id=appliance_id, version=written)
        except Exception:
            logger.exception("could not record manifest %s on %s", written, appliance_id)
    return written


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
