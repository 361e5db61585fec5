"""A cluster's manifests: place the catalog on its members, then build each member's manifest."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

from control_plane.catalog.units import CatalogUnit
from control_plane.manifests.builder import FillMember, build_manifest
from control_plane.placement.models import Member, PlacementPolicy, UnitDemand
from control_plane.placement.rendezvous import place_cluster
from control_plane.signing.keys import SigningKey
from edgefill_contracts.fill_window import FillWindow
from edgefill_contracts.manifest import Manifest

logger = logging.getLogger(__name__)


def build_cluster_manifests(
    *,
    cluster_members: Sequence[FillMember],
    isp_members: Sequence[FillMember],
    units: Mapping[str, CatalogUnit],
    popularity: Mapping[str, float],
    policy: PlacementPolicy,
    signing_keys: Sequence[SigningKey],
    fill_window: FillWindow,
    fill_opens: datetime,
    sources_expire_at: datetime,
    now: datetime,
    only: frozenset[str] | None = None,
) -> Iterator[Manifest]:
    """Place the catalog on the cluster, then make each member's manifest in turn: one whole
    catalog's manifest is ~200 MB of models, so a caller writes each before the next is made.
    `only`: the members to make manifests for (placement still counts every member)."""
    if not cluster_members:
        return
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
    for member in cluster_members:
        if only is not None and member.appliance_id not in only:
            continue
        yield build_manifest(
            member,
            placement.assignments[member.appliance_id],
            cluster_members=cluster_members,
            isp_members=isp_members,
            units=units,
            signing_keys=signing_keys,
            fill_window=fill_window,
            fill_opens=fill_opens,
            sources_expire_at=sources_expire_at,
            now=now,
        )
