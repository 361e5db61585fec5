"""rank_appliances: which appliances one client's session should play from, best first.

Order: eligible (Serving and healthy) appliances of the client's site that hold every
rendition of the session, then those of the ISP's other sites (the origin is the session's
last pathway, added by playback). Among the appliances of one site the
order is weighted rendezvous hashing on the session id, so one session sticks to one
appliance and sessions spread in proportion to spare capacity; the other sites are visited
around a ring from a per-session starting point.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from control_plane.common.rendezvous_hash import stable_id_residue, weighted_score
from control_plane.signing.keys import SigningKey
from control_plane.steering.view import FleetView, SteerableAppliance

logger = logging.getLogger(__name__)

DEFAULT_MAX_APPLIANCES = 4


@dataclass(frozen=True, slots=True)
class RankedAppliance:
    """An appliance to play from, with the key its site's URLs are signed with."""

    appliance: SteerableAppliance
    key: SigningKey


@dataclass(frozen=True, slots=True)
class ApplianceRanking:
    client_site_id: str | None
    appliances: tuple[RankedAppliance, ...]


def rank_appliances(
    *,
    view: FleetView,
    client_ip: str,
    units: Sequence[str],
    session_id: str,
    max_appliances: int = DEFAULT_MAX_APPLIANCES,
) -> ApplianceRanking:
    """Eligible appliances that hold every unit of `units`, best first (see the module's order).

    Raises InvalidClientAddress (400) when `client_ip` is not an address. A session's
    renditions play from the same pathways, so an appliance must hold all of them.
    """
    site = view.site_for(client_ip)
    if site is None:
        return ApplianceRanking(client_site_id=None, appliances=())
    if not units or not all(view.may_be_held(unit) for unit in units):
        return ApplianceRanking(client_site_id=site.site_id, appliances=())
    session_hash = stable_id_residue(session_id)
    ranked: list[RankedAppliance] = []
    for site_id in site_order(view, site.site_id, session_hash):
        site_holders = view.holders_in_site(site_id, units[0])
        if len(units) > 1:
            site_holders = tuple(
                a for a in site_holders if all(unit in a.held_units for unit in units[1:])
            )
        if not site_holders:
            continue
        key = view.signing_key_for(site_id)
        if key is None:
            continue  # FleetView.__post_init__ logged it once
        holders = (
            sorted(
                site_holders,
                key=lambda a: weighted_score(a.weight, session_hash, a.hash_coefficients),
                reverse=True,
            )
            if len(site_holders) > 1
            else site_holders
        )
        for appliance in holders:
            ranked.append(RankedAppliance(appliance=appliance, key=key))
            if len(ranked) >= max_appliances:
                return ApplianceRanking(client_site_id=site.site_id, appliances=tuple(ranked))
    return ApplianceRanking(client_site_id=site.site_id, appliances=tuple(ranked))


def site_order(view: FleetView, client_site: str, session_hash: int) -> Iterator[str]:
    """The client's site, then the ISP's other sites around a ring from a per-session start.

    Rotating a fixed ring (instead of sorting every site per request) spreads sessions over
    the other sites.
    """
    yield client_site
    others = view.other_sites_of_isp(client_site)
    if not others:
        return
    start = session_hash % len(others)
    yield from others[start:]
    yield from others[:start]
