"""Steering: which appliances a client's playback session plays from, best first.

Usage from the playback service::

    from control_plane.steering import SteeringSnapshotCache, rank_appliances

    cache = SteeringSnapshotCache(settings=settings)  # once per process: the steering snapshot
    ranking = rank_appliances(
        view=cache.current(),
        client_ip="198.51.100.7",
        units=("title-0001/480p", "title-0001/720p"),  # every rendition of the session
        session_id=session_id,
        max_appliances=8,
    )
    # ranking.appliances: RankedAppliance (the appliance and its site's signing key), best first
    # pathway_priority(...) re-orders a session's pathways from the current view (Content Steering)
"""

from __future__ import annotations

from control_plane.steering.errors import InvalidClientAddress, SteeringError
from control_plane.steering.explain import SteeringExplanation, explain_ranking
from control_plane.steering.pathways import pathway_priority
from control_plane.steering.rank import (
    ApplianceRanking,
    RankedAppliance,
    rank_appliances,
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
    "SteeringError",
    "SteeringExplanation",
    "SteeringSnapshotCache",
    "explain_ranking",
    "pathway_priority",
    "rank_appliances",
]
