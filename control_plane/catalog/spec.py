"""The catalog service's registry entry (no FastAPI import here)."""

from __future__ import annotations

from control_plane.common.tables import KeyAttribute, TableSpec
from control_plane.services import RouteAuth, RoutePrefix, ServiceSpec

TITLES_TABLE = TableSpec(name="catalog-titles", hash_key=KeyAttribute(name="title_id"))

SERVICE = ServiceSpec(
    name="catalog",
    app_factory="control_plane.catalog.app:create_app",
    tables=(TITLES_TABLE,),
    # Titles and search are the storefront: readable before signing up, like a public page.
    routes=(RoutePrefix(prefix="/catalog", auth=RouteAuth.PUBLIC),),
    reads_origin=False,
)
