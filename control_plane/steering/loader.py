"""Building the steering FleetView from the fleet's tables, and refreshing it on a TTL."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import SecretStr

from control_plane.common.settings import ServiceSettings
from control_plane.fleet.context import FleetContext, utc_now
from control_plane.fleet.signing_secrets import StoredSigningSecret
from control_plane.fleet.snapshot import FleetSnapshot, HeldUnitsCache, take_snapshot
from control_plane.steering.view import FleetView, SigningKey, SteerableAppliance, SteerableSite

logger = logging.getLogger(__name__)


def as_signing_keys(stored: list[StoredSigningSecret]) -> list[SigningKey]:
    return [
        SigningKey(secret_id=s.secret_id, secret=SecretStr(s.value), created_at=s.created_at)
        for s in stored
    ]


def view_from_snapshot(snapshot: FleetSnapshot) -> FleetView:
    return FleetView(
        sites=[
            SteerableSite(site_id=s.site_id, isp=s.isp, prefixes=tuple(s.prefixes))
            for s in snapshot.sites.values()
        ],
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


class FleetViewCache:
    """The current FleetView, rebuilt from DynamoDB at most once per `ttl`.

    One per process (a Lambda container keeps it between invocations). A failed refresh keeps
    serving the previous view and logs; only the very first build raises.
    """

    def __init__(
        self,
        *,
        settings: ServiceSettings,
        ttl: timedelta = timedelta(seconds=30),
        clock: Callable[[], datetime] = utc_now,
        context: FleetContext | None = None,
    ) -> None:
        self._context = context or FleetContext.from_settings(settings)
        self._ttl = ttl
        self._clock = clock
        self._held = HeldUnitsCache()
        self._view: FleetView | None = None
        self._lock = threading.Lock()

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
        return view_from_snapshot(snapshot)
