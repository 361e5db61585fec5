"""The playback service's registry entry (no FastAPI import here); it owns no tables."""

from __future__ import annotations

from control_plane.services import RouteAuth, RoutePrefix, ServiceSpec

SERVICE = ServiceSpec(
    name="playback",
    app_factory="control_plane.playback.app:create_app",
    routes=(RoutePrefix(prefix="/playback", auth=RouteAuth.SUBSCRIBER),),
    reads_origin=True,  # presigns the origin fallback
    # The steering view reads each appliance's applied manifest for its unit order.
    reads_manifests=True,
    reads_tables=(
        "auth-profiles",
        "auth-revoked-sessions",
        "billing-subscriptions",
        "catalog-titles",
        # The steering view (control_plane.steering.loader) reads the fleet's state.
        "fleet-sites",
        "fleet-clusters",
        "fleet-appliances",
        "fleet-health",
        "fleet-signing-secrets",
    ),
    writes_tables=("recs-events",),  # the play event
)
