"""Steering: rank signed appliance URLs for a client address, a title and a rendition.

Usage from the playback service::

    from control_plane.signing.origin import S3OriginSigner
    from control_plane.steering import SteeringSnapshotCache, rank_sources

    cache = SteeringSnapshotCache(settings=settings)  # once per process: the steering snapshot
    decision = rank_sources(
        view=cache.current(),
        client_ip="198.51.100.7",
        title_id="title-0001",
        rendition="720p",
        origin_key="title-0001/720p/index.m3u8",
        session_id=session_id,
        now=datetime.now(UTC),
        ttl=timedelta(hours=6),
        origin=S3OriginSigner(settings=settings),
    )
    # decision.urls: appliance PlaybackUrls (signed rendition directory, ends with '/'), best first
    # decision.origin: PlaybackUrl of the origin presigned URL of origin_key
"""

from __future__ import annotations

from control_plane.steering.errors import InvalidClientAddress, SteeringError
from control_plane.steering.pathways import pathway_priority
from control_plane.steering.rank import (
    ApplianceRanking,
    RankedAppliance,
    SteeringDecision,
    rank_appliances,
    rank_sources,
)
from control_plane.steering.snapshot_cache import SteeringSnapshotCache
from control_plane.steering.view import FleetView, SteerableAppliance, SteerableSite

__all__ = [
    "ApplianceRanking",
    "FleetView",
    "InvalidClientAddress",
    "RankedAppliance",
    "SteerableAppliance",
    "SteerableSite",
    "SteeringDecision",
    "SteeringError",
    "SteeringSnapshotCache",
    "pathway_priority",
    "rank_appliances",
    "rank_sources",
]
