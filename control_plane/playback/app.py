"""The playback service's FastAPI app."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from control_plane.auth.app import install_subscriber_auth
from control_plane.auth.profiles import ProfileStore
from control_plane.billing.entitlement import EntitlementReader
from control_plane.catalog.store import CatalogStore
from control_plane.common.app_factory import create_service_app
from control_plane.common.settings import ServiceSettings
from control_plane.playback.admin_routes import router as admin_router
from control_plane.playback.origin_playlists import S3PlaylistReader
from control_plane.playback.routes import router
from control_plane.playback.service import Playback
from control_plane.playback.session import SessionSigner
from control_plane.playback.session_routes import router as session_router
from control_plane.playback.title_cache import TitleCache
from control_plane.recommendations.events import EventStore
from control_plane.signing.origin import S3OriginSigner
from control_plane.steering.snapshot_cache import SteeringSnapshotCache


def create_app(settings: ServiceSettings) -> FastAPI:
    app = create_service_app(
        service="playback", settings=settings, routers=[router, session_router, admin_router]
    )
    install_subscriber_auth(app, settings)
    # Players fetch a session's manifests and steering cross-origin (GET, no credentials).
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET"])
    app.state.playback = Playback(
        profiles=ProfileStore.from_settings(settings),
        entitlements=EntitlementReader.from_settings(settings),
        titles=TitleCache(CatalogStore.from_settings(settings)),
        fleet=SteeringSnapshotCache(settings=settings),
        origin=S3OriginSigner(settings=settings),
        events=EventStore.from_settings(settings),
        sessions=SessionSigner(settings.session_secret),
        playlists=S3PlaylistReader(settings=settings),
        decision_log_every=settings.steering_decision_log_every,
    )
    return app
