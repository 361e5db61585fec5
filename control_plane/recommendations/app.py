"""The recommendations service's FastAPI app."""

from __future__ import annotations

from fastapi import FastAPI

from control_plane.auth.app import install_subscriber_auth
from control_plane.auth.profiles import ProfileStore
from control_plane.common.app_factory import create_service_app
from control_plane.common.settings import ServiceSettings
from control_plane.recommendations.events import EventStore
from control_plane.recommendations.picks import PicksStore
from control_plane.recommendations.routes import router


def create_app(settings: ServiceSettings) -> FastAPI:
    app = create_service_app(service="recommendations", settings=settings, routers=[router])
    install_subscriber_auth(app, settings)
    app.state.profiles = ProfileStore.from_settings(settings)
    app.state.events = EventStore.from_settings(settings)
    app.state.picks = PicksStore.from_settings(settings)
    return app
