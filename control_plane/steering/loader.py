"""Building the steering FleetView from the fleet's tables, and refreshing it on a TTL."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from control_plane.common.clock import utc_now
from control_plane.common.settings import ServiceSettings
from control_plane.fleet.reads import FleetReads, FleetReadSource
from control_plane.fleet.snapshot import FleetSnapshot, HeldUnitsCache, take_snapshot
from control_plane.signing.keys import as_signing_keys
from control_plane.steering.prefixes import PrefixLookup
from control_plane.steering.view import FleetView, SteerableAppliance, SteerableSite

logger = logging.getLogger(__name__)


def view_from_snapshot(
    snapshot: FleetSnapshot, *, prefix_index: PrefixLookup | None = None
) -> FleetView:
    """The steering view of a snapshot; pass `prefix_index` only if built from its prefixes."""
    return FleetView(
        sites=_sites(snapshot),
        prefix_index=prefix_index,
        appliances=[
            SteerableAppliance(
                appliance_id=a.appliance.appliance_id,
                site_id=a.appliance.site_id,
                cluster_id=a.appliance.cluster_id,
                base_url=a.appliance.base_url,
                serving=a.serving,
                healthy=a.health.healthy,
                held_units=a.held_units,
                accepted_secret_ids=a.accepted_secret_ids,
                weight=a.spare_capacity,
            )
            for a in snapshot.appliances
        ],
        signing_keys=as_signing_keys(snapshot.signing_secrets),
        built_at=snapshot.taken_at,
    )


def _sites(snapshot: FleetSnapshot) -> list[SteerableSite]:
    return [
        SteerableSite(site_id=s.site_id, isp=s.isp, prefixes=tuple(s.prefixes))
        for s in sorted(snapshot.sites.values(), key=lambda s: s.site_id)
    ]


def _prefix_fingerprint(sites: list[SteerableSite]) -> int:
    return hash(tuple((s.site_id, s.prefixes) for s in sites))


class FleetViewCache:
    """The current FleetView, rebuilt from DynamoDB at most once per `ttl`.

    One per process (a Lambda container keeps it between invocations). A failed refresh keeps
    serving the previous view and logs; only the very first build raises. The prefix trie
    (a million prefixes take seconds to index) is rebuilt only when some site's prefixes changed.
    """

    def __init__(
        self,
        *,
        settings: ServiceSettings,
        ttl: timedelta = timedelta(seconds=30),
        clock: Callable[[], datetime] = utc_now,
        context: FleetReadSource | None = None,
    ) -> None:
        self._context = context or FleetReads.from_settings(settings)
        self._ttl = ttl
        self._clock = clock
        self._held = HeldUnitsCache()
        self._view: FleetView | None = None
        self._prefixes: tuple[int, PrefixLookup] | None = None
        self._lock = threading.Lock()

    @property
    def ttl(self) -> timedelta:
        """How old the view may get before the next `current()` rebuilds it."""
        return self._ttl

    def current(self) -> FleetView:
        now = self._clock()
        view = self._view
        if view is not None and now - view.built_at < self._ttl:
            return view
        with self._lock:
            view = self._view
            if view is not None and now - view.built_at < self._ttl:
                return view
            try:
                self._view = self._build(now)
            except Exception:
                if view is None:
                    raise
                logger.exception("refreshing the fleet view failed; keeping the previous one")
                return view
            return self._view

    def _build(self, now: datetime) -> FleetView:
        context = self._context
        snapshot = take_snapshot(
            context.store,
            manifests=context.manifests,
            signing_secrets=context.secrets.active(now=now),
            policy=context.health_policy,
            now=now,
            held_cache=self._held,
        )
        fingerprint = _prefix_fingerprint(_sites(snapshot))
        reuse = self._prefixes[1] if self._prefixes and self._prefixes[0] == fingerprint else None
        view = view_from_snapshot(snapshot, prefix_index=reuse)
        if view.prefix_index is not None:
            self._prefixes = (fingerprint, view.prefix_index)
        return view
