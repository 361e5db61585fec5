"""rank_sources: where one client should play one title rendition from, best first.

Order: eligible (Serving and healthy) appliances of the client's site that hold the rendition,
then those of the ISP's other sites, then the origin. Among the appliances of one site the
order is weighted rendezvous hashing on the session id, so one session sticks to one
appliance and sessions spread in proportion to spare capacity.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from control_plane.placement.units import content_unit
from control_plane.steering.view import FleetView, SigningKey, SteerableAppliance
from edgefill_contracts.playback import PlaybackUrl
from edgefill_contracts.signing import title_base_path

logger = logging.getLogger(__name__)

DEFAULT_MAX_APPLIANCE_URLS = 4
_HASH_SPACE = float(1 << 64)


class OriginSigner(Protocol):
    """Makes the origin fallback URL of one object key, valid until `expires_at`."""

    def __call__(self, *, key: str, expires_at: datetime) -> str: ...


@dataclass(frozen=True, slots=True)
class SteeringDecision:
    """Ranked appliance URLs (each the signed base directory of the title) and the origin.

    Each appliance URL ends with '/', and the playlist path relative to the title
    (``<rendition>/<file>``) is appended by the player; `origin.url` is the origin URL of
    `origin_key` itself. `client_site_id` is None when no site announces the client's address.
    """

    client_site_id: str | None
    urls: tuple[PlaybackUrl, ...]
    origin: PlaybackUrl


def rank_sources(
    *,
    view: FleetView,
    client_ip: str,
    title_id: str,
    rendition: str,
    origin_key: str,
    session_id: str,
    now: datetime,
    ttl: timedelta,
    origin: OriginSigner,
    max_urls: int = DEFAULT_MAX_APPLIANCE_URLS,
) -> SteeringDecision:
    """Rank signed, expiring URLs for `client_ip` to play `title_id`/`rendition`.

    Raises InvalidClientAddress (400) when `client_ip` is not an address. URLs are signed with
    the newest secret every Serving appliance of the appliance's site accepts
    (edgefill_contracts.signing); a site with no such secret is skipped and logged.
    """
    expires = int((now + ttl).timestamp())
    expires_at = datetime.fromtimestamp(expires, UTC)
    origin_url = PlaybackUrl(
        url=origin(key=origin_key, expires_at=expires_at), appliance_id=None, expires_at=expires_at
    )
    site = view.site_for(client_ip)
    if site is None:
        return SteeringDecision(client_site_id=None, urls=(), origin=origin_url)

    unit = content_unit(title_id, rendition)
    other_sites = sorted(
        (s for s in view.sites_of_isp(site.isp) if s != site.site_id),
        key=lambda s: _score(session_id, s, 1.0),
        reverse=True,
    )
    urls: list[PlaybackUrl] = []
    for site_id in [site.site_id, *other_sites]:
        holders = [a for a in view.eligible_appliances(site_id) if unit in a.held_units]
        if not holders:
            continue
        key = view.signing_key_for(site_id)
        if key is None:
            logger.warning(
                "site %s has no signing secret all its Serving appliances accept; skipping it",
                site_id,
            )
            continue
        base_path = _base_path(key, title_id, expires)
        for appliance in _by_rendezvous(session_id, holders):
            urls.append(
                PlaybackUrl(
                    url=appliance.base_url + base_path,
                    appliance_id=appliance.appliance_id,
                    expires_at=expires_at,
                )
            )
            if len(urls) >= max_urls:
                return SteeringDecision(
                    client_site_id=site.site_id, urls=tuple(urls), origin=origin_url
                )
    return SteeringDecision(client_site_id=site.site_id, urls=tuple(urls), origin=origin_url)


def _base_path(key: SigningKey, title_id: str, expires: int) -> str:
    return title_base_path(
        secret_id=key.secret_id,
        secret=key.secret.get_secret_value(),
        title=title_id,
        expires=expires,
    )


def _by_rendezvous(
    session_id: str, appliances: Iterable[SteerableAppliance]
) -> list[SteerableAppliance]:
    return sorted(
        appliances, key=lambda a: _score(session_id, a.appliance_id, a.weight), reverse=True
    )


def _score(session_id: str, member: str, weight: float) -> float:
    """Weighted rendezvous score: -weight / ln(h), with h uniform in (0, 1) from a stable hash."""
    digest = hashlib.blake2b(f"{session_id}|{member}".encode(), digest_size=8).digest()
    h = (int.from_bytes(digest, "big") + 0.5) / _HASH_SPACE
    return -max(weight, 1e-6) / math.log(h)
