"""A small world to play in: titles with renditions, a subscribed viewer, a one-site fleet.

Shared by the playback tests and the playback benchmark.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from control_plane.auth.models import ProfileCreate
from control_plane.auth.profiles import ProfileStore
from control_plane.billing.service import Billing, billing_from_settings, subscribe
from control_plane.catalog.models import (
    AudioTrack,
    MaturityRating,
    MediaFile,
    Rendition,
    SingleFileIndex,
    Title,
)
from control_plane.catalog.store import CatalogStore
from control_plane.common.aws import s3
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


MEDIA_SIZE = 3000
# A single-file rendition's media playlist: init section, sidx, then three 2 s fragments.
MEDIA_PLAYLIST = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="media.mp4",BYTERANGE="800@0"
#EXTINF:2.000000,
#EXT-X-BYTERANGE:700@876
media.mp4
#EXTINF:2.000000,
#EXT-X-BYTERANGE:700@1576
media.mp4
#EXTINF:2.000000,
#EXT-X-BYTERANGE:724@2276
media.mp4
#EXT-X-ENDLIST
"""


AUDIO_PLAYLIST = MEDIA_PLAYLIST.replace("media.mp4", "audio.mp4")


def media_renditions(title_id: str) -> tuple[Rendition, ...]:
    playlist = MEDIA_PLAYLIST.encode()
    audio_playlist = AUDIO_PLAYLIST.encode()

    def file(name: str, size: int, sha256: str) -> MediaFile:
        return MediaFile(key=f"{title_id}/{name}", size=size, sha256=sha256)

    return tuple(
        Rendition(
            name=r,
            bandwidth=100_000 * (n + 1),
            width=int(r[:-1]) * 16 // 9,
            codecs="avc1.42c01e",
            playlist=f"{title_id}/{r}/index.m3u8",
            files=(
                file(f"{r}/index.m3u8", len(playlist), hashlib.sha256(playlist).hexdigest()),
                file(f"{r}/media.mp4", MEDIA_SIZE, hashlib.sha256(bytes(MEDIA_SIZE)).hexdigest()),
                file(
                    f"{r}/audio.m3u8",
                    len(audio_playlist),
                    hashlib.sha256(audio_playlist).hexdigest(),
                ),
                file(f"{r}/audio.mp4", MEDIA_SIZE, hashlib.sha256(bytes(MEDIA_SIZE)).hexdigest()),
            ),
            single_file=SingleFileIndex(
                media=f"{title_id}/{r}/media.mp4",
                initialization="0-799",
                index_range="800-875",
                duration_s=6.0,
            ),
            audio=AudioTrack(
                language="en",
                name="English",
                channels=2,
                bandwidth=128_000,
                codecs="mp4a.40.2",
                playlist=f"{title_id}/{r}/audio.m3u8",
                single_file=SingleFileIndex(
                    media=f"{title_id}/{r}/audio.mp4",
                    initialization="0-799",
                    index_range="800-875",
                    duration_s=6.0,
                ),
            ),
        )
        for n, r in enumerate(RENDITIONS)
    )


def put_titles(settings: ServiceSettings, count: int, *, upload: bool = True) -> list[Title]:
    """`count` titles in the catalogue; with `upload`, their files in the origin bucket too."""
    ids = [f"title-{n:04d}" for n in range(1, count + 1)]
    titles = list(synthetic_titles(count, renditions={t: media_renditions(t) for t in ids}))
    store = CatalogStore.from_settings(settings)
    client = s3(settings)
    for title in titles:
        store.put(title)
        if not upload:
            continue
        for rendition in title.renditions:
            for media in rendition.files:
                body = bytes(MEDIA_SIZE)
                if media.key.endswith("/index.m3u8"):
                    body = MEDIA_PLAYLIST.encode()
                elif media.key.endswith("/audio.m3u8"):
                    body = AUDIO_PLAYLIST.encode()
                client.put_object(Bucket=settings.origin_bucket, Key=media.key, Body=body)
    return titles


class StaticFleet:
    """One site announcing `prefix` (198.51.100.0/24) with Serving appliances holding every
    unit of `titles`: by default two at https://10.0.0.{1,2}:8443 accepting SECRET."""

    def __init__(
        self,
        titles: list[Title],
        *,
        appliances: Sequence[tuple[str, str]] = (
            ("appliance-1", "https://10.0.0.1:8443"),
            ("appliance-2", "https://10.0.0.2:8443"),
        ),
        key: SigningKey = SECRET,
        prefix: str = "198.51.100.0/24",
    ) -> None:
        units = frozenset(content_unit(t.title_id, r.name) for t in titles for r in t.renditions)
        self._view = FleetView(
            sites=[SteerableSite(site_id="site-a", isp="isp-1", prefixes=(prefix,))],
            appliances=[
                SteerableAppliance(
                    appliance_id=appliance_id,
                    site_id="site-a",
                    cluster_id="cluster-a",
                    base_url=base_url,
                    serving=True,
                    healthy=True,
                    held_units=units,
                    accepted_secret_ids=frozenset({key.secret_id}),
                )
                for appliance_id, base_url in appliances
            ],
            signing_keys=[key],
            built_at=datetime.now(UTC),
        )

    def current(self) -> FleetView:
        return self._view

    def change(self, appliance_id: str, **fields: object) -> None:
        """Replace fields of one appliance (a drain: serving=False), as a new snapshot would."""
        self._view = FleetView(
            sites=self._view.sites,
            appliances=[
                replace(a, **fields) if a.appliance_id == appliance_id else a  # type: ignore[arg-type]
                for a in self._view.appliances
            ],
            signing_keys=self._view.signing_keys,
            built_at=datetime.now(UTC),
        )


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
