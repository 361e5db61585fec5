"""Playback's view of the fleet: the steering snapshot, loaded at cold start, refreshed by ETag.

No playback call scans a table or reads a manifest: a container reads the snapshot's pointer at
most once per `refresh` (a conditional GET), downloads only the sections whose sha256 changed,
and keeps its prefix table while the prefixes section is unchanged. Signing secrets come from
the key store (read at most once a minute), never from the snapshot.

When steering cannot trust its view it sends every client to the origin and says so (a log
line and the `SteeringSnapshotAge` metric, in CloudWatch's embedded metric format):
- no snapshot could be loaded yet (cold start with S3 or the pointer failing, or the job never
  ran): it tries again after `RETRY_AFTER`;
- the snapshot is older than `max_age` (the job has not checked the fleet since): a drained or
  dead appliance could be handed out, and a rotated key could be used past its grace.
A refresh that fails keeps the current view (and its age keeps growing toward `max_age`).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import SecretStr

from control_plane.common.clock import utc_now
from control_plane.common.settings import ServiceSettings
from control_plane.signing.key_store import CachedActiveSecrets, SigningSecretStore, flatten
from control_plane.signing.keys import SigningKey
from control_plane.steering.prefix_table import PrefixTable
from control_plane.steering.snapshot_format import (
    FleetSection,
    HoldingsSection,
    SnapshotPointer,
    decode_fleet,
    decode_holdings,
    decode_prefixes,
)
from control_plane.steering.snapshot_store import SnapshotNotModified, SteeringSnapshotStore
from control_plane.steering.view import FleetView, SteerableAppliance, SteerableSite

logger = logging.getLogger(__name__)

RETRY_AFTER = timedelta(seconds=5)
AGE_METRIC = "SteeringSnapshotAge"
METRIC_NAMESPACE = "edgefill/steering"


class BitmapHoldings:
    """`unit in holdings` for one appliance: its bit in the snapshot's row, by the unit table."""

    __slots__ = ("_index", "_row")

    def __init__(self, index: dict[str, int], row: memoryview) -> None:
        self._index = index
        self._row = row

    def __contains__(self, unit: object) -> bool:
        position = self._index.get(unit) if isinstance(unit, str) else None
        if position is None:
            return False
        return bool(self._row[position >> 3] >> (position & 7) & 1)


@dataclass(frozen=True)
class _LoadedHoldings:
    sha256: str
    index: dict[str, int]
    rows: dict[str, memoryview]

    @classmethod
    def of(cls, sha256: str, section: HoldingsSection) -> _LoadedHoldings:
        return cls(
            sha256=sha256,
            index={unit: n for n, unit in enumerate(section.units)},
            rows=section.rows_by_appliance(),
        )


@dataclass(frozen=True)
class _Loaded:
    pointer: SnapshotPointer
    etag: str
    fleet: FleetSection
    holdings: _LoadedHoldings
    prefixes: PrefixTable
    keys: dict[str, SigningKey]
    view: FleetView


class SteeringSnapshotCache:
    """The current FleetView from the steering snapshot; one per process."""

    def __init__(
        self,
        *,
        settings: ServiceSettings,
        clock: Callable[[], datetime] = utc_now,
        store: SteeringSnapshotStore | None = None,
        secrets: CachedActiveSecrets | None = None,
    ) -> None:
        self._store = store or SteeringSnapshotStore(settings=settings)
        self._secrets = secrets or CachedActiveSecrets(SigningSecretStore(settings=settings))
        self._refresh = timedelta(seconds=settings.fleet_view_ttl_s)
        self._max_age = timedelta(seconds=settings.steering_snapshot_max_age_s)
        self._clock = clock
        self._loaded: _Loaded | None = None
        self._next_check: datetime | None = None
        self._lock = threading.Lock()

    @property
    def refresh_interval(self) -> timedelta:
        """How often the pointer is checked for a newer snapshot."""
        return self._refresh

    @property
    def max_age(self) -> timedelta:
        return self._max_age

    def refresh(self) -> None:
        """Check the pointer now rather than at the next interval."""
        with self._lock:
            self._check(self._clock())

    def current(self) -> FleetView:
        """The view to steer from now: the snapshot's, or an origin-only view (see module)."""
        now = self._clock()
        if self._next_check is None or now >= self._next_check:
            with self._lock:
                if self._next_check is None or now >= self._next_check:
                    self._check(now)
        loaded = self._loaded
        if loaded is None:
            return _origin_only(now)
        age = now - loaded.pointer.checked_at
        if age > self._max_age:
            return _origin_only(loaded.pointer.checked_at)
        return loaded.view

    def _check(self, now: datetime) -> None:
        loaded = self._loaded
        try:
            self._loaded = self._load(now, loaded)
        except Exception:
            if loaded is None:
                logger.exception(
                    "steering snapshot: cannot load it; every client goes to the origin until "
                    "it loads (retrying in %ss)",
                    RETRY_AFTER.total_seconds(),
                )
                self._next_check = now + RETRY_AFTER
                _report_age(None, stale=True)
                return
            logger.exception("steering snapshot: refresh failed; keeping the current one")
        self._next_check = now + (self._refresh if self._loaded is not None else RETRY_AFTER)
        current = self._loaded
        if current is None:
            logger.error("steering snapshot: none published yet; every client goes to the origin")
            _report_age(None, stale=True)
            return
        age = now - current.pointer.checked_at
        stale = age > self._max_age
        if stale:
            logger.error(
                "steering snapshot is %.0fs old (max %.0fs): the job has not checked the fleet "
                "since %s; every client goes to the origin until it does",
                age.total_seconds(),
                self._max_age.total_seconds(),
                current.pointer.checked_at.isoformat(),
            )
        _report_age(age, stale=stale)

    def _load(self, now: datetime, loaded: _Loaded | None) -> _Loaded | None:
        try:
            found = self._store.pointer(etag=loaded.etag if loaded is not None else None)
        except SnapshotNotModified:
            return loaded
        if found is None:
            return None
        pointer, etag = found
        fleet = (
            loaded.fleet
            if loaded is not None and loaded.pointer.fleet == pointer.fleet
            else decode_fleet(self._store.section(pointer.fleet))
        )
        holdings = (
            loaded.holdings
            if loaded is not None and loaded.holdings.sha256 == pointer.holdings.sha256
            else _LoadedHoldings.of(
                pointer.holdings.sha256, decode_holdings(self._store.section(pointer.holdings))
            )
        )
        prefixes = (
            loaded.prefixes
            if loaded is not None and loaded.pointer.prefixes == pointer.prefixes
            else _prefix_table(self._store.section(pointer.prefixes))
        )
        keys = self._keys(fleet, now=now)
        same = loaded is not None and (
            loaded.fleet,
            loaded.holdings,
            loaded.prefixes,
            loaded.keys,
        ) == (fleet, holdings, prefixes, keys)
        # Only `checked_at` moved on (the usual case): the view of 10,000 appliances stays.
        view = (
            loaded.view
            if same and loaded is not None
            else _view(fleet, holdings, prefixes, keys, built_at=pointer.checked_at)
        )
        return _Loaded(
            pointer=pointer,
            etag=etag,
            fleet=fleet,
            holdings=holdings,
            prefixes=prefixes,
            keys=keys,
            view=view,
        )

    def _keys(self, fleet: FleetSection, *, now: datetime) -> dict[str, SigningKey]:
        """Each site's signing key by the id the job chose; a key this process has not seen
        yet (rotated within the key store's cache time) makes it read the store again once."""
        wanted = {s.key_id for s in fleet.sites if s.key_id is not None}
        site_ids = [s.site_id for s in fleet.sites]
        active = self._active(site_ids, now)
        if not wanted <= active.keys():
            self._secrets.invalidate()
            active = self._active(site_ids, now)
        keys = {}
        for site in fleet.sites:
            if site.key_id is None:
                continue
            key = active.get(site.key_id)
            if key is None:
                logger.warning(
                    "site %s: the snapshot signs with %s, which is not an active secret; "
                    "steering skips the site",
                    site.site_id,
                    site.key_id,
                )
                continue
            keys[site.site_id] = key
        return keys

    def _active(self, site_ids: list[str], now: datetime) -> dict[str, SigningKey]:
        return {
            s.secret_id: SigningKey(
                secret_id=s.secret_id, secret=SecretStr(s.value), created_at=s.created_at
            )
            for s in flatten(self._secrets.key_sets(site_ids, now=now))
        }


def _view(
    fleet: FleetSection,
    holdings: _LoadedHoldings,
    prefixes: PrefixTable,
    keys: dict[str, SigningKey],
    *,
    built_at: datetime,
) -> FleetView:
    """The view of loaded sections; `built_at` is when the job compiled them."""
    empty: frozenset[str] = frozenset()
    return FleetView(
        sites=[SteerableSite(site_id=s.site_id, isp=s.isp) for s in fleet.sites],
        appliances=[
            SteerableAppliance(
                appliance_id=a.appliance_id,
                site_id=a.site_id,
                cluster_id=a.cluster_id,
                base_url=a.base_url,
                serving=True,
                healthy=True,
                held_units=(
                    BitmapHoldings(holdings.index, row)
                    if (row := holdings.rows.get(a.appliance_id)) is not None
                    else empty
                ),
                weight=a.weight,
            )
            for a in fleet.appliances
        ],
        signing_keys=list({k.secret_id: k for k in keys.values()}.values()),
        built_at=built_at,
        prefix_index=prefixes,
        known_units=holdings.index,
        site_keys=keys,
    )


def _prefix_table(section: bytes) -> PrefixTable:
    try:
        return PrefixTable.from_bytes(decode_prefixes(section))
    except ValueError as exc:
        raise ValueError(f"steering snapshot prefixes: {exc}") from exc


def _origin_only(at: datetime) -> FleetView:
    """No site, no appliance: every decision is the origin."""
    return FleetView(sites=(), appliances=(), signing_keys=(), built_at=at)


def _report_age(age: timedelta | None, *, stale: bool) -> None:
    """One line in CloudWatch's embedded metric format on stdout (Lambda ships it to Logs,
    which makes the metrics; no API call on the request path). No snapshot: stale, no age."""
    values: dict[str, float] = {"SteeringSnapshotStale": int(stale)}
    metrics = [{"Name": "SteeringSnapshotStale", "Unit": "Count"}]
    if age is not None:
        values[AGE_METRIC] = round(age.total_seconds(), 3)
        metrics.append({"Name": AGE_METRIC, "Unit": "Seconds"})
    line = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {"Namespace": METRIC_NAMESPACE, "Dimensions": [[]], "Metrics": metrics}
            ],
        },
        **values,
    }
    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
    sys.stdout.flush()
