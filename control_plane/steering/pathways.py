"""Content Steering: the order a playing session should use its pathways in, right now.

A session's pathways were ranked when it started (`rank_appliances`); its player asks again
every TTL (HLS `EXT-X-CONTENT-STEERING`, DASH `ContentSteering`). The answer keeps the
session's order (it sticks to one appliance) but drops an appliance that stopped being Serving
and healthy, no longer holds the session's renditions or is unknown to the snapshot, and moves
one close to its capacity behind the others. The origin is always last.
"""

from __future__ import annotations

from collections.abc import Sequence

from control_plane.steering.view import FleetView

# Below this spare capacity (weight) an appliance is still listed, after the others: about 95 %
# of its connections in use (weight = max(0.05, 1 - active / max)).
NEARLY_FULL_WEIGHT = 0.05


def pathway_priority(
    *, view: FleetView, pathways: Sequence[str], units: Sequence[str], origin: str
) -> tuple[str, ...]:
    """`pathways` (appliance ids, best first) that may still serve `units`, then `origin`."""
    usable: list[str] = []
    nearly_full: list[str] = []
    for appliance_id in pathways:
        appliance = view.appliance(appliance_id)
        if appliance is None or not appliance.eligible:
            continue
        if not all(unit in appliance.held_units for unit in units):
            continue
        if view.signing_key_for(appliance.site_id) is None:
            continue
        (nearly_full if appliance.weight <= NEARLY_FULL_WEIGHT else usable).append(appliance_id)
    return (*usable, *nearly_full, origin)
