"""The fleet service's FastAPI app (and its Lambda handler via control_plane.common)."""

from __future__ import annotations

from fastapi import FastAPI

from control_plane.common.app_factory import create_service_app
from control_plane.common.settings import ServiceSettings
from control_plane.fleet.admin_routes import inventory_router
from control_plane.fleet.admin_routes import router as admin_router
from control_plane.fleet.appliance_routes import router as appliance_router
from control_plane.fleet.context import FleetContext


def create_app(settings: ServiceSettings, *, context: FleetContext | None = None) -> FastAPI:
    """The fleet app; tests pass a `context` with their own clock and health policy."""
    app = create_service_app(
        service="fleet",
        settings=settings,
        routers=[appliance_router, admin_router, inventory_router],
    )
    app.state.fleet = context or FleetContext.from_settings(settings)
    return app
