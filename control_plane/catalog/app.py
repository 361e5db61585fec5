"""The catalog service's FastAPI app (and its Lambda handler factory)."""

from __future__ import annotations

from fastapi import FastAPI

from control_plane.catalog.index_cache import IndexCache
from control_plane.catalog.routes import router
from control_plane.catalog.store import CatalogStore
from control_plane.common.app_factory import create_service_app
from control_plane.common.settings import ServiceSettings


def create_app(settings: ServiceSettings) -> FastAPI:
    app = create_service_app(service="catalog", settings=settings, routers=[router])
    store = CatalogStore.from_settings(settings)
    app.state.catalog_store = store
    app.state.search_index = IndexCache(store)
    return app
