"""A small world to play in: titles with renditions, a subscribed viewer, a one-site fleet.

Shared by the playback tests and the playback benchmark.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from control_plane.auth.models import ProfileCreate
from control_plane.auth.profiles import ProfileStore
from control_plane.billing.service import Billing, billing_from_settings, subscribe
from control_plane.catalog.models import MaturityRating, MediaFile, Rendition, Title
from control_plane.catalog.store import CatalogStore
from control_plane.common.settings import ServiceSettings
from control_plane.signing.keys import SigningKey
from control_plane.steering import FleetView, SteerableAppliance, SteerableSite
from edgefill_contracts.object_key import content_unit
from lab.seed.titles import synthetic_titles
from tests.support.subscriber import SignedIn, signed_in_user

CLIENT_IP = "198.51.100.7"  # inside the site's announced prefix
OUTSIDE_IP = "203.0.113.9"  # announced by no site
SECRET = SigningKey(
    secret_id="s1",
    secret=SecretStr("playback-test-secret-0123456789"),
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)
RENDITIONS = ("144p", "240p", "360p")


def media_renditions(title_id: str) -> tuple[Rendition, ...]:
    def file(name: str) -> MediaFile:
        key = f"{title_id}/{name}"
        return MediaFile(key=key, size=1000, sha256=hashlib.sha256(key.encode()).hexdigest())

    return tuple(
        Rendition(
            name=r,
            bandwidth=100_000 * (n + 1),
            playlist=f"{title_id}/{r}/index.m3u8",
            files=(file(f"{r}/index.m3u8"), file(f"{r}/media.mp4")),
        )
        for n, r in enumerate(RENDITIONS)
    )


def put_titles(settings: ServiceSettings, count: int) -> list[Title]:
    ids = [f"title-{n:04d}" for n in range(1, count + 1)]
    titles = list(synthetic_titles(count, renditions={t: media_renditions(t) for t in ids}))
    store = CatalogStore.from_settings(settings)
    for title in titles:
        store.put(title)
    return titles


class StaticFleet:
    """One site announcing 198.51.100.0/24 with two Serving appliances holding every unit."""

    def __init__(self, titles: list[Title]) -> None:
        units = frozenset(content_unit(t.title_id, r) for t in titles for r in RENDITIONS)
        self._view = FleetView(
            sites=[SteerableSite(site_id="site-a", isp="isp-1", prefixes=("198.51.100.0/24",))],
            appliances=[
                SteerableAppliance(
                    appliance_id=f"appliance-{n}",
                    site_id="site-a",
                    cluster_id="cluster-a",
                    base_url=f"https://10.0.0.{n}:8443",
                    serving=True,
                    healthy=True,
                    held_units=units,
                    accepted_secret_ids=frozenset({SECRET.secret_id}),
                )
                for n in (1, 2)
            ],
            signing_keys=[SECRET],
            built_at=datetime.now(UTC),
        )

    def current(self) -> FleetView:
        return self._view


@dataclass(frozen=True)
class Viewer:
    user: SignedIn
    profile_id: str
    kids_profile_id: str


def subscribed_viewer(
    settings: ServiceSettings, *, plan_id: str = "standard", billing: Billing | None = None
) -> Viewer:
    user = signed_in_user(settings)
    profiles = ProfileStore.from_settings(settings)
    adult = profiles.create(account_id=user.account_id, profile=ProfileCreate(name="adult"))
    kids = profiles.create(
        account_id=user.account_id,
        profile=ProfileCreate(name="kids", max_maturity=MaturityRating.G),
    )
    subscribe(
        billing or billing_from_settings(settings),
        account_id=user.account_id,
        plan_id=plan_id,
        payment_method="pm_test_visa",
        idempotency_key=f"world-{user.account_id}",
    )
    return Viewer(user=user, profile_id=adult.profile_id, kids_profile_id=kids.profile_id)


def expiry_window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now + timedelta(hours=5), now + timedelta(hours=7)
