"""The playback service's registry entry (no FastAPI import here); it owns no tables."""

from __future__ import annotations

from control_plane.services import RouteAuth, RoutePrefix, ServiceSpec

SERVICE = ServiceSpec(
    name="playback",
    app_factory="control_plane.playback.app:create_app",
    routes=(
        RoutePrefix(prefix="/playback", auth=RouteAuth.SUBSCRIBER),
        # A player's manifests and steering: the session token in the path is the credential.
        RoutePrefix(prefix="/playback/sessions", auth=RouteAuth.PUBLIC),
        # Explained steering for operators; the operator token is checked in the app.
        RoutePrefix(prefix="/playback/admin", auth=RouteAuth.ADMIN),
    ),
    reads_origin=True,  # presigns the origin fallback; reads the origin pathway's playlists
    # Steering reads the steering snapshot only (no fleet table, no manifest).
    reads_steering_snapshot=True,
    reads_tables=(
        "auth-profiles",
        "auth-revoked-sessions",
        "billing-subscriptions",
        "catalog-titles",
        # The secrets of the key ids the snapshot names (read at most once a minute).
        "fleet-signing-secrets",
    ),
    writes_tables=("recs-events",),  # the play event
)
