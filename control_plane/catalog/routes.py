"""Catalog routes: a title's details and the search. Thin: they call the store and index."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from control_plane.catalog.index_cache import IndexCache
from control_plane.catalog.models import TITLE_ID_PATTERN, MaturityRating, SearchPage, Title
from control_plane.catalog.search import MAX_OFFSET, MAX_PAGE, SearchFilters
from control_plane.catalog.store import CatalogStore

router = APIRouter(prefix="/catalog", tags=["catalog"])


def _store(request: Request) -> CatalogStore:
    store: CatalogStore = request.app.state.catalog_store
    return store


def _index(request: Request) -> IndexCache:
    cache: IndexCache = request.app.state.search_index
    return cache


@router.get("/titles/{title_id}", response_model=Title)
def get_title(request: Request, title_id: Annotated[str, Path(pattern=TITLE_ID_PATTERN)]) -> Title:
    return _store(request).get(title_id)


@router.get("/search", response_model=SearchPage)
def search(
    request: Request,
    q: Annotated[str, Query(max_length=200, description="Words, prefixes, typos welcome.")] = "",
    genre: Annotated[str | None, Query(max_length=50)] = None,
    year_from: Annotated[int | None, Query(ge=1888, le=2100)] = None,
    year_to: Annotated[int | None, Query(ge=1888, le=2100)] = None,
    max_maturity: MaturityRating | None = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
) -> SearchPage:
    filters = SearchFilters(
        genre=genre, year_from=year_from, year_to=year_to, max_maturity=max_maturity
    )
    return _index(request).get().search(q, filters=filters, offset=offset, limit=limit)
