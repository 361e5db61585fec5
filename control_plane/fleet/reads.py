"""What other domains read of the fleet: the registry, health policy, manifests and key set.

Steering's view and the manifest job need these stores, not the fleet service's whole context
(which also holds the fleet CA's key and the served-report store): they build a `FleetReads`,
and only the fleet app and its jobs build a `FleetContext` (import-linter says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from control_plane.common.settings import ServiceSettings
from control_plane.fleet.health import HealthPolicy
from control_plane.fleet.store import FleetStore
from control_plane.manifests.store import ManifestStore
from control_plane.signing.key_store import SigningSecretStore


class FleetReadSource(Protocol):
    """The fleet stores a reader uses; a `FleetReads` (or the fleet's own context) has them."""

    @property
    def store(self) -> FleetStore: ...

    @property
    def manifests(self) -> ManifestStore: ...

    @property
    def secrets(self) -> SigningSecretStore: ...

    @property
    def health_policy(self) -> HealthPolicy: ...


@dataclass(frozen=True)
class FleetReads:
    """The fleet stores other domains read, built from the settings alone."""

    store: FleetStore
    manifests: ManifestStore
    secrets: SigningSecretStore
    health_policy: HealthPolicy = field(default_factory=HealthPolicy)

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> FleetReads:
        return cls(
            store=FleetStore.from_settings(settings),
            manifests=ManifestStore(settings=settings),
            # Readers derive a site's seed key as the fleet service does; nobody stores it
            # before the site's first rotation.
            secrets=SigningSecretStore(settings=settings),
        )
