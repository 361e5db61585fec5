"""Why steering chose what it chose: the matched prefix, the site, and every candidate appliance
with the reason it was ranked or skipped. For operators; a subscriber never sees it."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from control_plane.common.rendezvous_hash import stable_id_residue
from control_plane.steering.rank import rank_appliances, site_order
from control_plane.steering.view import FleetView, SteerableAppliance, SteerableSite

# At most this many of an appliance's missing units are named (a title has a few renditions).
_MISSING_SHOWN = 8


class Verdict(StrEnum):
    RANKED = "ranked"
    NOT_SERVING = "not_serving"  # Draining, Drained, or never turned up
    UNHEALTHY = "unhealthy"
    SITE_HAS_NO_KEY = "site_has_no_accepted_key"  # its appliances share no active secret
    DOES_NOT_HOLD = "does_not_hold_every_unit"
    BEYOND_LIMIT = "beyond_max_appliances"  # eligible, but enough were ranked before it


class Candidate(BaseModel):
    model_config = ConfigDict(frozen=True)

    appliance_id: str
    site_id: str
    verdict: Verdict
    rank: int | None = None  # 1 is the first pathway
    spare_capacity: float  # the rendezvous weight: 1 idle, 0.05 full
    missing_units: list[str] = []


class SteeringExplanation(BaseModel):
    model_config = ConfigDict(frozen=True)

    client_ip: str
    matched_prefix: str | None
    client_site_id: str | None
    isp: str | None
    units: list[str]
    sites_visited: list[str]  # the client's site, then the ISP's others in this session's order
    candidates: list[Candidate]
    pathways: list[str]  # what the session gets: the ranked appliances, then "origin"
    fallback: str


def explain_ranking(
    view: FleetView,
    *,
    client_ip: str,
    units: Sequence[str],
    session_id: str,
    max_appliances: int,
    origin: str = "origin",
) -> SteeringExplanation:
    """The ranking `rank_appliances` makes for these arguments, with every candidate's reason.

    Raises InvalidClientAddress (400) when `client_ip` is not an address.
    """
    ranking = rank_appliances(
        view=view,
        client_ip=client_ip,
        units=units,
        session_id=session_id,
        max_appliances=max_appliances,
    )
    ranked = [r.appliance.appliance_id for r in ranking.appliances]
    site = view.site(ranking.client_site_id) if ranking.client_site_id else None
    if site is None:
        return SteeringExplanation(
            client_ip=client_ip,
            matched_prefix=None,
            client_site_id=None,
            isp=None,
            units=list(units),
            sites_visited=[],
            candidates=[],
            pathways=[origin],
            fallback="origin only: no site announces a prefix covering the client's address",
        )
    visited = list(site_order(view, site.site_id, stable_id_residue(session_id)))
    by_site: dict[str, list[SteerableAppliance]] = defaultdict(list)
    wanted = set(visited)
    for appliance in view.appliances:
        if appliance.site_id in wanted:
            by_site[appliance.site_id].append(appliance)
    candidates = [
        _candidate(view, appliance, units, ranked)
        for site_id in visited
        for appliance in sorted(by_site[site_id], key=lambda a: a.appliance_id)
    ]
    if ranked:
        fallback = "origin last, after the ranked appliances"
    elif not units or not all(view.may_be_held(u) for u in units):
        fallback = "origin only: no appliance of the fleet holds every unit"
    else:
        fallback = "origin only: no eligible appliance of the client's ISP holds every unit"
    return SteeringExplanation(
        client_ip=client_ip,
        matched_prefix=_matched_prefix(site, client_ip),
        client_site_id=site.site_id,
        isp=site.isp,
        units=list(units),
        sites_visited=visited,
        candidates=candidates,
        pathways=[*ranked, origin],
        fallback=fallback,
    )


def _candidate(
    view: FleetView, appliance: SteerableAppliance, units: Sequence[str], ranked: list[str]
) -> Candidate:
    missing = [u for u in units if u not in appliance.held_units]
    if appliance.appliance_id in ranked:
        verdict, rank = Verdict.RANKED, ranked.index(appliance.appliance_id) + 1
    else:
        rank = None
        if not appliance.serving:
            verdict = Verdict.NOT_SERVING
        elif not appliance.healthy:
            verdict = Verdict.UNHEALTHY
        elif view.signing_key_for(appliance.site_id) is None:
            verdict = Verdict.SITE_HAS_NO_KEY
        elif missing:
            verdict = Verdict.DOES_NOT_HOLD
        else:
            verdict = Verdict.BEYOND_LIMIT
    return Candidate(
        appliance_id=appliance.appliance_id,
        site_id=appliance.site_id,
        verdict=verdict,
        rank=rank,
        spare_capacity=round(appliance.weight, 3),
        missing_units=missing[:_MISSING_SHOWN],
    )


def _matched_prefix(site: SteerableSite, client_ip: str) -> str | None:
    """The site's most specific prefix covering the address (IPv4-mapped IPv6 as IPv4)."""
    address = ipaddress.ip_address(client_ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    best: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    for prefix in site.prefixes:
        network = ipaddress.ip_network(prefix)
        covers = network.version == address.version and address in network
        if covers and (best is None or network.prefixlen > best.prefixlen):
            best = network
    return None if best is None else str(best)
