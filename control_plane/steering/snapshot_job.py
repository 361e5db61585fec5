"""The steering snapshot job: compile the fleet into the snapshot playback steers from.

EventBridge invokes `run` every minute; one invocation compiles every
`steering_snapshot_interval_s` for `steering_snapshot_run_s` (EventBridge cannot schedule more
often than once a minute), so a drain or a health change reaches the snapshot within one
interval. Each pass reads the fleet's tables once (a job may scan; playback never does), writes
only the sections that changed, and always moves the pointer's `checked_at` on, which is how a
reader knows the snapshot is current. A warm container keeps the appliances' unit orders and
the last prefix table between passes and invocations.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from control_plane.common.clock import Clock, utc_now
from control_plane.common.settings import ServiceSettings
from control_plane.fleet.reads import FleetReads, FleetReadSource
from control_plane.fleet.snapshot import FleetSnapshot, take_snapshot
from control_plane.manifests.store import ManifestStore
from control_plane.signing.keys import KeyRing, as_signing_keys
from control_plane.steering.holdings_rows import HoldingsRows, RowsUpdate
from control_plane.steering.prefix_table import PrefixTable
from control_plane.steering.snapshot_format import (
    FleetSection,
    SnapshotAppliance,
    SnapshotFormatError,
    SnapshotPointer,
    SnapshotSite,
    decode_holdings,
    encode_fleet,
    encode_holdings,
    encode_prefixes,
)
from control_plane.steering.snapshot_store import SnapshotNotModified, SteeringSnapshotStore

logger = logging.getLogger(__name__)

# Spare capacity moves with every heartbeat; steps of 1/20 keep the fleet section (and what
# every playback container downloads) from changing on each pass.
WEIGHT_STEPS = 20


# Of each pass, at most this share of the interval goes to recomputing changed holdings rows
# (~20 ms each); rows beyond it wait for the next pass, those waiting longest first.
ROWS_BUDGET_SHARE = 0.5


@dataclass(frozen=True)
class CompiledSnapshot:
    fleet: FleetSection
    holdings: bytes
    prefixes: bytes
    prefix_count: int
    rows: RowsUpdate


@dataclass
class SnapshotCompiler:
    """Compiles fleet snapshots, keeping what a warm container may reuse between passes:
    the holdings rows (seeded from the published section when the container is cold) and the
    last prefix section."""

    rows: HoldingsRows | None = None
    rows_budget_s: float = 5.0
    _holdings: bytes | None = None
    _prefixes: tuple[tuple[tuple[str, tuple[str, ...]], ...], bytes, int] | None = None

    def compile(self, snapshot: FleetSnapshot, *, manifests: ManifestStore) -> CompiledSnapshot:
        ring = KeyRing(as_signing_keys(snapshot.signing_secrets))
        site_key_ids: dict[str | None, set[str]] = defaultdict(set)
        for secret in snapshot.signing_secrets:
            site_key_ids[secret.site_id].add(secret.secret_id)
        # An appliance that accepts no active key of its site (it never fetched the site's new
        # key, and the old one expired) is left out: alone, not its whole site.
        eligible = [
            a
            for a in snapshot.appliances
            if a.serving
            and a.health.healthy
            and not site_key_ids[a.appliance.site_id].isdisjoint(a.accepted_secret_ids)
        ]
        voters: dict[str, list[frozenset[str]]] = {}
        for a in eligible:
            voters.setdefault(a.appliance.site_id, []).append(a.accepted_secret_ids)
        sites = sorted(snapshot.sites.values(), key=lambda s: s.site_id)
        site_rows = []
        for site in sites:
            key = ring.newest_accepted(voters.get(site.site_id, []))
            site_rows.append(
                SnapshotSite(
                    site_id=site.site_id,
                    isp=site.isp,
                    key_id=key.secret_id if key is not None else None,
                )
            )
        fleet = FleetSection(
            sites=site_rows,
            appliances=[
                SnapshotAppliance(
                    appliance_id=a.appliance.appliance_id,
                    site_id=a.appliance.site_id,
                    cluster_id=a.appliance.cluster_id,
                    base_url=a.appliance.base_url,
                    weight=max(1, round(a.spare_capacity * WEIGHT_STEPS)) / WEIGHT_STEPS,
                )
                for a in eligible
            ],
            excluded=len(snapshot.appliances) - len(eligible),
        )
        if self.rows is None:
            self.rows = HoldingsRows()
        update = self.rows.update(
            {
                a.appliance.appliance_id: (
                    a.health.last_heartbeat.held if a.health.last_heartbeat is not None else None
                )
                for a in snapshot.appliances
            },
            unit_order=manifests.unit_order,
            budget_s=self.rows_budget_s,
        )
        prefixes, count = self._prefix_section(tuple((s.site_id, tuple(s.prefixes)) for s in sites))
        return CompiledSnapshot(
            fleet=fleet,
            holdings=self._holdings_section(changed=bool(update.recomputed or update.dropped)),
            prefixes=prefixes,
            prefix_count=count,
            rows=update,
        )

    def _holdings_section(self, *, changed: bool) -> bytes:
        # Encoding 150 MB of rows takes seconds: only when some row changed.
        if self._holdings is None or changed:
            if self.rows is None:
                raise RuntimeError("the holdings section is encoded before any rows were built")
            self._holdings = encode_holdings(self.rows.section())
        return self._holdings

    def _prefix_section(
        self, announced: tuple[tuple[str, tuple[str, ...]], ...]
    ) -> tuple[bytes, int]:
        # A million prefixes take seconds to flatten: only when some site's prefixes changed.
        if self._prefixes is not None and self._prefixes[0] == announced:
            return self._prefixes[1], self._prefixes[2]
        table = PrefixTable.build(
            (prefix, site_id) for site_id, prefixes in announced for prefix in prefixes
        )
        section = encode_prefixes(table.to_bytes())
        self._prefixes = (announced, section, len(table))
        return section, len(table)


# What a warm container keeps between invocations: one compiler per stack it serves (one in a
# Lambda; the tests run several stacks in one process, which must not share rows).
_COMPILERS: dict[str, SnapshotCompiler] = {}


def _compiler(settings: ServiceSettings) -> SnapshotCompiler:
    key = settings.model_dump_json()
    found = _COMPILERS.get(key)
    if found is None:
        found = _COMPILERS[key] = SnapshotCompiler(
            rows_budget_s=settings.steering_snapshot_interval_s * ROWS_BUDGET_SHARE
        )
    return found


def _seed_rows(store: SteeringSnapshotStore, pointer: SnapshotPointer | None) -> HoldingsRows:
    """A cold container's rows: those of the published holdings section, when it is readable."""
    if pointer is None:
        return HoldingsRows()
    try:
        return HoldingsRows.seeded(decode_holdings(store.section(pointer.holdings)))
    except (SnapshotFormatError, OSError) as exc:
        logger.warning("steering snapshot: starting holdings afresh (%s)", exc)
        return HoldingsRows()


def publish_once(
    *,
    reads: FleetReadSource,
    store: SteeringSnapshotStore,
    compiler: SnapshotCompiler,
    now: datetime,
) -> tuple[SnapshotPointer, list[str]]:
    """One pass: read the fleet, compile it, publish what changed; the new pointer and the
    kinds of section written."""
    try:
        current = store.pointer()
    except SnapshotNotModified:  # pragma: no cover - no ETag was sent
        current = None
    previous = current[0] if current is not None else None
    if compiler.rows is None:
        compiler.rows = _seed_rows(store, previous)
    snapshot = take_snapshot(
        reads.store,
        manifests=reads.manifests,
        secrets=reads.secrets,
        policy=reads.health_policy,
        now=now,
        resolve_held=False,
    )
    compiled = compiler.compile(snapshot, manifests=reads.manifests)
    pointer, written = store.publish(
        fleet=encode_fleet(compiled.fleet),
        holdings=compiled.holdings,
        prefixes=compiled.prefixes,
        prefix_count=compiled.prefix_count,
        checked_at=now,
        previous=previous,
    )
    if written:
        store.sweep(pointer, now=now)
    return pointer, written


def run(
    settings: ServiceSettings,
    *,
    clock: Clock = utc_now,
    sleep: Any = time.sleep,
    reads: FleetReadSource | None = None,
) -> dict[str, Any]:
    """EventBridge's entry point: compile every interval for `steering_snapshot_run_s`.

    A pass that fails is logged and the next one tries again; the invocation fails (and
    EventBridge's retry and the alarm see it) only when no pass succeeded.
    """
    reads = reads or FleetReads.from_settings(settings)
    store = SteeringSnapshotStore(settings=settings)
    compiler = _compiler(settings)
    started = time.monotonic()
    passes, failures, changed = 0, 0, 0
    last_error: Exception | None = None
    while True:
        pass_started = time.monotonic()
        try:
            _, written = publish_once(reads=reads, store=store, compiler=compiler, now=clock())
            changed += bool(written)
        except Exception as exc:  # one failed pass must not end the invocation
            logger.exception("steering snapshot pass failed")
            failures += 1
            last_error = exc
        passes += 1
        elapsed = time.monotonic() - started
        if elapsed + settings.steering_snapshot_interval_s > settings.steering_snapshot_run_s:
            break
        sleep(max(0.0, settings.steering_snapshot_interval_s - (time.monotonic() - pass_started)))
    if failures == passes and last_error is not None:
        raise last_error
    return {"passes": passes, "failed": failures, "changed": changed}
