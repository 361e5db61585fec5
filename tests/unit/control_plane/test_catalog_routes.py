"""Catalog routes against moto: title details, search with filters and pages, failures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from control_plane.catalog.app import create_app
from control_plane.catalog.models import Title
from control_plane.catalog.store import CatalogStore
from control_plane.common.settings import ServiceSettings
from lab.seed.titles import synthetic_titles


@pytest.fixture
def catalogue(stack: ServiceSettings) -> list[Title]:
    titles = list(synthetic_titles(40, seed=3))
    store = CatalogStore.from_settings(stack)
    for title in titles:
        store.put(title)
    return titles


@pytest.fixture
def client(stack: ServiceSettings, catalogue: list[Title]) -> Iterator[TestClient]:
    with TestClient(create_app(stack)) as client:
        yield client


def test_get_title_returns_the_stored_document(client: TestClient, catalogue: list[Title]) -> None:
    response = client.get(f"/catalog/titles/{catalogue[0].title_id}")
    assert response.status_code == 200
    assert Title.model_validate(response.json()) == catalogue[0]


@pytest.mark.parametrize(("title_id", "status"), [("title-9999", 404), ("Bad_Id", 422)])
def test_get_title_failures(client: TestClient, title_id: str, status: int) -> None:
    response = client.get(f"/catalog/titles/{title_id}")
    assert response.status_code == status
    assert response.json()["message"]


def test_search_finds_a_title_by_a_misspelt_word_of_its_name(
    client: TestClient, catalogue: list[Title]
) -> None:
    target = max(catalogue, key=lambda t: max(len(w) for w in t.name.split()))
    word = max(target.name.split(), key=len).lower()
    typo = word[:2] + word[3] + word[2] + word[4:]  # swap two letters
    found = client.get("/catalog/search", params={"q": typo, "limit": 50}).json()
    assert target.title_id in [r["title_id"] for r in found["results"]]


def test_search_filters_and_pages(client: TestClient, catalogue: list[Title]) -> None:
    params: dict[str, str | int] = {"genre": "drama", "max_maturity": "PG-13", "limit": 3}
    expected = [
        t.title_id
        for t in sorted(catalogue, key=lambda t: (-t.popularity, t.title_id))
        if "Drama" in t.genres and t.maturity in ("G", "PG", "PG-13")
    ]
    seen = []
    for offset in range(0, len(expected) + 3, 3):
        page = client.get("/catalog/search", params={**params, "offset": offset}).json()
        assert page["total"] == len(expected)
        seen += [r["title_id"] for r in page["results"]]
    assert seen == expected


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 51}, {"offset": -1}, {"max_maturity": "X"}, {"year_from": 1500}],
)
def test_search_rejects_bad_parameters(client: TestClient, params: dict[str, str | int]) -> None:
    response = client.get("/catalog/search", params=params)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
