"""The auth service's FastAPI app."""

from __future__ import annotations

from fastapi import FastAPI

from control_plane.auth.cognito import UserPool
from control_plane.auth.profiles import ProfileStore
from control_plane.auth.routes import auth_router, profiles_router
from control_plane.auth.sessions import RevokedSessions
from control_plane.auth.tokens import verifier_for
from control_plane.common.app_factory import create_service_app
from control_plane.common.settings import ServiceSettings


def install_subscriber_auth(app: FastAPI, settings: ServiceSettings) -> None:
    """What `CurrentSubscriber` needs on app.state; every service with subscriber routes calls it."""
    revoked = RevokedSessions.from_settings(settings)
    app.state.revoked_sessions = revoked
    app.state.token_verifier = verifier_for(settings, is_revoked=revoked.is_revoked)


def create_app(settings: ServiceSettings) -> FastAPI:
    app = create_service_app(
        service="auth", settings=settings, routers=[auth_router, profiles_router]
    )
    install_subscriber_auth(app, settings)
    app.state.user_pool = UserPool.from_settings(settings)
    app.state.profiles = ProfileStore.from_settings(settings)
    return app
