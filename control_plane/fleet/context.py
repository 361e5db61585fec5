"""Everything the fleet routes need, built once per app from the settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from control_plane.common.clock import utc_now
from control_plane.common.settings import ServiceSettings
from control_plane.fleet.certificates import FleetCA
from control_plane.fleet.health import HealthPolicy
from control_plane.fleet.store import FleetStore
from control_plane.manifests.store import ManifestStore
from control_plane.popularity.served_reports import ServedReportStore
from control_plane.popularity.store import PopularityStore
from control_plane.signing.key_store import CachedActiveSecrets, SigningSecretStore
from control_plane.signing.origin import OriginSigner, S3OriginSigner


@dataclass(frozen=True)
class FleetContext:
    settings: ServiceSettings
    store: FleetStore
    secrets: SigningSecretStore
    manifests: ManifestStore
    popularity: PopularityStore
    served_reports: ServedReportStore
    certificate_authority: FleetCA
    origin: OriginSigner
    active_secrets: CachedActiveSecrets
    health_policy: HealthPolicy = field(default_factory=HealthPolicy)
    clock: Callable[[], datetime] = utc_now

    @classmethod
    def from_settings(
        cls,
        settings: ServiceSettings,
        *,
        health_policy: HealthPolicy | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> FleetContext:
        secrets = SigningSecretStore(settings=settings)
        return cls(
            settings=settings,
            store=FleetStore.from_settings(settings),
            secrets=secrets,
            active_secrets=CachedActiveSecrets(secrets),
            manifests=ManifestStore(settings=settings),
            popularity=PopularityStore(settings=settings),
            served_reports=ServedReportStore(settings=settings),
            certificate_authority=FleetCA(settings=settings),
            origin=S3OriginSigner(settings=settings),
            health_policy=health_policy or HealthPolicy(),
            clock=clock,
        )
