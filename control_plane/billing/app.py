"""The billing service's FastAPI app."""

from __future__ import annotations

from fastapi import FastAPI

from control_plane.auth.app import install_subscriber_auth
from control_plane.billing.routes import router
from control_plane.billing.service import billing_from_settings
from control_plane.common.app_factory import create_service_app
from control_plane.common.settings import ServiceSettings


def create_app(settings: ServiceSettings) -> FastAPI:
    app = create_service_app(service="billing", settings=settings, routers=[router])
    install_subscriber_auth(app, settings)
    app.state.billing = billing_from_settings(settings)
    return app
