"""One manifest per appliance of a cluster: its placed units' files, each with ranked sources.

Sources, best first: appliances of the same cluster that already hold the unit (peer fill),
then appliances of the ISP's other clusters that hold it (tier fill), then the origin. Peer
URLs are signed paths (edgefill_contracts.signing) with the newest secret the peer accepts,
valid until the fill window closes, so peers serve fills exactly as they serve clients.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from control_plane.catalog.units import CatalogUnit
from control_plane.common.rendezvous_hash import stable_id_hash
from control_plane.fleet.manifests import content_version
from control_plane.placement.models import Member, PlacementPolicy, UnitDemand
from control_plane.placement.rendezvous import place_cluster
from control_plane.signing.content_urls import signed_object_url
from control_plane.signing.keys import SigningKey
from control_plane.signing.origin import OriginSigner
from edgefill_contracts.fill_window import FillWindow
from edgefill_contracts.manifest import MAX_SOURCES_PER_OBJECT, Manifest, ManifestObject

logger = logging.getLogger(__name__)

MAX_PEER_SOURCES = 3
MAX_TIER_SOURCES = 3


@dataclass(frozen=True, slots=True)
class FillMember:
    """An appliance as the manifest job sees it."""

    appliance_id: str
    cluster_id: str
    base_url: str
    byte_budget: int
    held_units: frozenset[str]
    accepted_secret_ids: frozenset[str]
    can_serve_fills: bool


def build_cluster_manifests(
    *,
    cluster_members: Sequence[FillMember],
    isp_members: Sequence[FillMember],
    units: Mapping[str, CatalogUnit],
    popularity: Mapping[str, float],
    policy: PlacementPolicy,
    signing_keys: Sequence[SigningKey],
    origin: OriginSigner,
    fill_window: FillWindow,
    fill_opens: datetime,
    sources_expire_at: datetime,
    now: datetime,
) -> list[Manifest]:
    """Place the catalog on the cluster and write each member's manifest."""
    if not cluster_members:
        return []
    placement = place_cluster(
        units=[
            UnitDemand(unit_id=u.unit_id, size=u.size, popularity=popularity.get(u.unit_id, 0.0))
            for u in units.values()
        ],
        members=[
            Member(appliance_id=m.appliance_id, byte_budget=m.byte_budget) for m in cluster_members
        ],
        policy=policy,
    )
    if placement.unplaced:
        logger.warning(
            "%d units fit on no appliance of cluster %s",
            len(placement.unplaced),
            cluster_members[0].cluster_id,
        )
    newest_first = sorted(signing_keys, key=lambda k: k.created_at, reverse=True)
    expires = int(sources_expire_at.timestamp())
    manifests = []
    for member in cluster_members:
        objects: list[ManifestObject] = []
        assigned = placement.assignments[member.appliance_id]
        for rank, unit_id in enumerate(assigned):
            unit = units[unit_id]
            sources = _unit_sources(member, unit_id, cluster_members, isp_members)
            for file in unit.files:
                urls = [
                    url
                    for peer in sources
                    if (url := _peer_url(peer, file.key, newest_first, expires)) is not None
                ][: MAX_SOURCES_PER_OBJECT - 1]
                urls.append(origin(key=file.key, expires_at=sources_expire_at))
                objects.append(
                    ManifestObject.model_validate(
                        {
                            "key": file.key,
                            "size": file.size,
                            "sha256": file.sha256,
                            "priority": len(assigned) - rank,
                            "sources": urls,
                        }
                    )
                )
        manifests.append(
            Manifest(
                appliance_id=member.appliance_id,
                version=content_version(objects, member.byte_budget, fill_opens=fill_opens),
                generated_at=now,
                fill_window=fill_window,
                byte_budget=member.byte_budget,
                objects=objects,
            )
        )
    return manifests


def _unit_sources(
    member: FillMember,
    unit_id: str,
    cluster_members: Sequence[FillMember],
    isp_members: Sequence[FillMember],
) -> list[FillMember]:
    def holders(candidates: Sequence[FillMember]) -> list[FillMember]:
        found = [
            c
            for c in candidates
            if c.appliance_id != member.appliance_id
            and c.can_serve_fills
            and unit_id in c.held_units
        ]
        # Spread the cluster's fills of one unit over its holders, the same way every run.
        return sorted(
            found, key=lambda c: stable_id_hash(f"{unit_id}|{member.appliance_id}|{c.appliance_id}")
        )

    peers = holders(cluster_members)[:MAX_PEER_SOURCES]
    tier = holders([m for m in isp_members if m.cluster_id != member.cluster_id])
    return peers + tier[:MAX_TIER_SOURCES]


def _peer_url(
    peer: FillMember, key: str, newest_first: Sequence[SigningKey], expires: int
) -> str | None:
    for signing_key in newest_first:
        if signing_key.secret_id in peer.accepted_secret_ids:
            return signed_object_url(
                base_url=peer.base_url, key=signing_key, object_key=key, expires=expires
            )
    return None
