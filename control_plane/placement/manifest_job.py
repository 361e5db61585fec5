"""The scheduled manifest job: before each site's fill window opens, place and write manifests.

EventBridge (or the lab's timer) calls `run(settings)` hourly, at :15, after the popularity
fold (control_plane.popularity.served_fold, at :05) has added yesterday's serving. Outside a site's fill window
every run recomputes the site's manifests for its next window, so the last run before the
window opens writes what the window fills, from the freshest popularity; while the window is
open nothing changes under a running fill (except for an appliance with no manifest at all).
Writing is idempotent: a version hashes the content and the window it is for, so an unchanged
manifest is not rewritten within one cycle, and each window gets sources valid through it.

The job fans out per cluster (control_plane.common.fan_out): `run` plans the due clusters from
one read of the fleet and hands out one `ClusterOrder` each; `run_cluster` (an SQS worker in
AWS, called in turn by `run` in the lab and tests) reads only that cluster's appliances and its
ISP's (by key, no scan), places the cluster and writes its manifests. One cluster's failure is
retried and dead-lettered alone; the others carry on.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from control_plane.catalog.units import CatalogUnit, units_from_catalog
from control_plane.common.clock import utc_now
from control_plane.common.fan_out import FanOutMessage, dispatch
from control_plane.common.rendezvous_hash import stable_id_hash
from control_plane.common.settings import ServiceSettings
from control_plane.fleet.health import HealthRecord, observe_silence
from control_plane.fleet.models import Lifecycle
from control_plane.fleet.reads import FleetReads, FleetReadSource
from control_plane.fleet.registry import record_manifest_version
from control_plane.fleet.snapshot import (
    ApplianceSnapshot,
    FleetSnapshot,
    HeldUnitsCache,
    take_snapshot,
)
from control_plane.manifests.builder import FillMember
from control_plane.placement.cluster_manifests import build_cluster_manifests
from control_plane.placement.errors import ManifestJobIncomplete
from control_plane.placement.fill_schedule import next_window
from control_plane.placement.models import PlacementPolicy
from control_plane.popularity.store import PopularityStore
from control_plane.signing.key_store import flatten
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


MANIFEST_FAN_OUT = "manifest-clusters"
# A worker container keeps the catalog and the day's popularity this long between messages.
INPUTS_TTL_S = 600.0


class ClusterOrder(BaseModel):
    """One due cluster, as the plan hands it to a worker (an SQS message; ids, not records)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    site_id: str
    cluster_id: str
    member_ids: list[str]
    # The cluster's own appliances and at most MAX_TIER_PEERS of its ISP's others: the peers
    # a fill may use across clusters.
    isp_member_ids: list[str]
    writable: list[str]
    fill_window: FillWindow
    fill_opens: datetime
    fill_closes: datetime
    planned_at: datetime

    @property
    def work_id(self) -> str:
        return self.cluster_id


@dataclass(frozen=True)
class PlacementInputs:
    """What every cluster is placed from: the catalog, popularity, keys and the policy."""

    units: Mapping[str, CatalogUnit]
    popularity: Mapping[str, float]
    signing_keys: Sequence[SigningKey]
    policy: PlacementPolicy = field(default_factory=PlacementPolicy)


def run(settings: ServiceSettings) -> dict[str, object]:
    """Entry point of the scheduled job (ScheduledJob.function): plan, then hand out clusters.

    With the fan-out queue (AWS) it returns once every order is queued. Without it (the lab)
    it writes each cluster in turn whatever another's fate; when some failed, it raises
    ManifestJobIncomplete at the end, so the job runs again and only what changed is rewritten.
    """
    context = ManifestJobContext.from_settings(settings)
    now = utc_now()
    orders = plan_clusters(context=context, now=now)
    inputs = _Inputs(settings, context)
    done = dispatch(
        settings,
        queue=MANIFEST_FAN_OUT,
        messages=orders,
        handle=lambda order: _write_order(context, order, inputs),
    )
    result = _summary(orders, done.results, done.failed)
    result["queued"] = done.queued
    if done.failed:
        raise ManifestJobIncomplete(failed=done.failed, written=result["written"])
    return result


def run_cluster(settings: ServiceSettings, body: dict[str, object]) -> dict[str, object]:
    """The fan-out worker: one ClusterOrder (an SQS message's body); raises to be retried."""
    order = ClusterOrder.model_validate(body)
    context, inputs = _worker(settings)
    done = write_cluster(context=context, order=order, inputs=inputs.get(now=order.planned_at))
    logger.info(
        "manifest job: cluster %s: %d written, %d unchanged",
        order.cluster_id,
        done.written,
        done.unchanged,
    )
    return {"cluster": order.cluster_id, "written": done.written, "unchanged": done.unchanged}


class _Inputs:
    """The placement inputs of one run (or, in a worker, of at most INPUTS_TTL_S)."""

    def __init__(self, settings: ServiceSettings, context: ManifestJobInputs) -> None:
        self._settings = settings
        self._context = context
        self._loaded: tuple[float, str, PlacementInputs] | None = None

    def get(self, *, now: datetime) -> PlacementInputs:
        day = now.date().isoformat()
        loaded = self._loaded
        if loaded is None or loaded[1] != day or time.monotonic() - loaded[0] > INPUTS_TTL_S:
            inputs = placement_inputs(
                context=self._context, units=units_from_catalog(self._settings), now=now
            )
            loaded = (time.monotonic(), day, inputs)
            self._loaded = loaded
        return loaded[2]


_WORKERS: dict[str, tuple[ManifestJobContext, _Inputs]] = {}


def _worker(settings: ServiceSettings) -> tuple[ManifestJobContext, _Inputs]:
    """The context and inputs a worker keeps between messages (one settings per container)."""
    key = settings.model_dump_json()
    found = _WORKERS.get(key)
    if found is None:
        context = ManifestJobContext.from_settings(settings)
        found = _WORKERS[key] = (context, _Inputs(settings, context))
    return found


def _write_order(
    context: ManifestJobInputs, order: FanOutMessage, inputs: _Inputs
) -> ClusterWritten:
    if not isinstance(order, ClusterOrder):
        raise TypeError(f"the manifest fan-out got a {type(order).__name__}, not a ClusterOrder")
    return write_cluster(context=context, order=order, inputs=inputs.get(now=order.planned_at))


def placement_inputs(
    *,
    context: ManifestJobInputs,
    units: Iterable[CatalogUnit],
    now: datetime,
    policy: PlacementPolicy | None = None,
) -> PlacementInputs:
    return PlacementInputs(
        units={u.unit_id: u for u in units},
        popularity={p.unit_id: p.score for p in context.popularity.scores(today=now.date())},
        signing_keys=fleet_signing_keys(context, now=now),
        policy=policy or PlacementPolicy(),
    )


def fleet_signing_keys(context: ManifestJobInputs, *, now: datetime) -> list[SigningKey]:
    """Every site's active keys: a peer source is signed with a key of the peer's own site.

    The site ids come from the clusters (small items; every appliance is in one), not from the
    sites, whose items carry up to 10,000 prefixes each (a million fleet-wide)."""
    site_ids = sorted({c.site_id for c in context.store.clusters.scan()})
    return as_signing_keys(flatten(context.secrets.key_sets(site_ids, now=now)))


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
    """Plan the due clusters and write each in turn, through the worker's own code; returns
    counts for the job's log and `failed` (cluster id -> reason) for the clusters that could
    not be written: a failure is recorded and the other clusters carry on."""
    orders = plan_clusters(context=context, now=now, force=force)
    inputs = placement_inputs(context=context, units=units, now=now, policy=policy)
    results: list[object] = []
    failed: dict[str, str] = {}
    for order in orders:
        try:
            results.append(write_cluster(context=context, order=order, inputs=inputs))
        except Exception as exc:
            # One cluster over its limit, or a store error, must not stop the sites after it.
            logger.exception("manifest job: cluster %s failed; carrying on", order.cluster_id)
            failed[order.cluster_id] = f"{type(exc).__name__}: {exc}"
    return _summary(orders, results, failed)


def _summary(
    orders: Sequence[ClusterOrder], results: Sequence[object], failed: dict[str, str]
) -> dict[str, object]:
    written = sum(r.written for r in results if isinstance(r, ClusterWritten))
    unchanged = sum(r.unchanged for r in results if isinstance(r, ClusterWritten))
    due_sites = sorted({order.site_id for order in orders})
    logger.info(
        "manifest job: %d written, %d unchanged, sites due: %s, clusters failed: %s",
        written,
        unchanged,
        due_sites,
        sorted(failed),
    )
    return {"written": written, "unchanged": unchanged, "sites": due_sites, "failed": failed}


def plan_clusters(
    *, context: ManifestJobInputs, now: datetime, force: bool = False
) -> list[ClusterOrder]:
    """The due clusters as orders, from one read of the fleet (no held units resolved)."""
    snapshot = take_snapshot(
        context.store,
        manifests=context.manifests,
        secrets=None,
        policy=context.health_policy,
        now=now,
        resolve_held=False,
    )
    return [
        ClusterOrder(
            site_id=work.site_id,
            cluster_id=work.cluster_id,
            member_ids=[m.appliance_id for m in work.members],
            isp_member_ids=_isp_member_ids(work),
            writable=sorted(work.writable),
            fill_window=work.fill_window,
            fill_opens=work.fill_opens,
            fill_closes=work.fill_closes,
            planned_at=now,
        )
        for work in due_clusters(context=context, snapshot=snapshot, now=now, force=force)
    ]


# Of the ISP's other clusters' appliances, how many an order names as fill peers. A worker
# reads each one's record, health and units file (up to 120,000 units) and tests every unit
# of its cluster against them, so an ISP of 2,000 appliances must not mean 2,000 of each:
# 24 peers, still several per unit (a unit's manifest ranks at most MAX_TIER_SOURCES of them).
MAX_TIER_PEERS = 24


def _isp_member_ids(work: ClusterWork) -> list[str]:
    """The cluster's members, then a fixed sample of the ISP's other clusters' appliances:
    the ones that rank highest for this cluster (rendezvous), so clusters spread their peer
    fills over the ISP and the same cluster gets the same sample every run."""
    own = [m.appliance_id for m in work.members]
    others = [m.appliance_id for m in work.isp_members if m.cluster_id != work.cluster_id]
    tier = sorted(others, key=lambda a: stable_id_hash(f"{work.cluster_id}|{a}"))
    return own + tier[:MAX_TIER_PEERS]


def write_cluster(
    *, context: ManifestJobInputs, order: ClusterOrder, inputs: PlacementInputs
) -> ClusterWritten:
    """One order: read its appliances and their health by key, place, write."""
    now = order.planned_at
    ids = sorted(set(order.member_ids) | set(order.isp_member_ids))
    appliances = {
        a.appliance_id: a
        for a in context.store.appliances.get_many([{"appliance_id": i} for i in ids])
        if a.lifecycle is not Lifecycle.RETIRED
    }
    health = {
        h.appliance_id: h
        for h in context.store.health.get_many([{"appliance_id": i} for i in appliances])
    }
    held = HeldUnitsCache()  # this order's appliances only: a worker never holds the fleet's
    members = {}
    for appliance_id, appliance in appliances.items():
        record = observe_silence(
            health.get(appliance_id) or HealthRecord(appliance_id=appliance_id),
            now=now,
            policy=context.health_policy,
        )
        members[appliance_id] = ApplianceSnapshot(
            appliance=appliance, health=record, held_units=held.units_for(context.manifests, record)
        )
    work = ClusterWork(
        site_id=order.site_id,
        cluster_id=order.cluster_id,
        members=[_fill_member(members[i]) for i in order.member_ids if i in members],
        isp_members=[_fill_member(members[i]) for i in order.isp_member_ids if i in members],
        writable=frozenset(order.writable),
        fill_window=order.fill_window,
        fill_opens=order.fill_opens,
        fill_closes=order.fill_closes,
        recorded_versions={
            i: members[i].appliance.manifest_version for i in order.member_ids if i in members
        },
    )
    return write_cluster_manifests(
        context=context,
        work=work,
        units=inputs.units,
        popularity=inputs.popularity,
        policy=inputs.policy,
        signing_keys=inputs.signing_keys,
        now=now,
    )


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
