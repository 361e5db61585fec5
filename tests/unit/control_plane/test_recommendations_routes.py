"""Recommendation routes and the nightly job against moto."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from control_plane.auth.models import ProfileCreate
from control_plane.auth.profiles import ProfileStore
from control_plane.catalog.store import CatalogStore
from control_plane.common.settings import ServiceSettings
from control_plane.recommendations.app import create_app
from control_plane.recommendations.batch import run_nightly
from lab.seed.titles import synthetic_titles
from tests.support.subscriber import signed_in_user


@pytest.fixture
def client(stack: ServiceSettings) -> Iterator[TestClient]:
    store = CatalogStore.from_settings(stack)
    for title in synthetic_titles(6):
        store.put(title)
    with TestClient(create_app(stack)) as client:
        yield client


def new_profile(stack: ServiceSettings, account_id: str) -> str:
    profile = ProfileStore.from_settings(stack).create(
        account_id=account_id, profile=ProfileCreate(name="viewer")
    )
    return profile.profile_id


def test_events_then_nightly_batch_then_picks(client: TestClient, stack: ServiceSettings) -> None:
    viewers = [signed_in_user(stack) for _ in range(3)]
    profiles = [new_profile(stack, v.account_id) for v in viewers]
    watched = [["title-0001", "title-0002"], ["title-0001", "title-0002"], ["title-0001"]]
    for viewer, profile, titles in zip(viewers, profiles, watched, strict=True):
        for title_id in titles:
            response = client.post(
                f"/recommendations/profiles/{profile}/events",
                json={"title_id": title_id, "kind": "finish", "position_s": 5},
                headers=viewer.headers,
            )
            assert response.status_code == 204
    cold = client.get(f"/recommendations/profiles/{profiles[2]}", headers=viewers[2].headers)
    assert cold.json() == {"profile_id": profiles[2], "generated_at": None, "picks": []}

    summary = run_nightly(stack)
    assert summary["profiles"] == 3

    picks = client.get(f"/recommendations/profiles/{profiles[2]}", headers=viewers[2].headers)
    first = picks.json()["picks"][0]
    assert first["title_id"] == "title-0002"
    assert first["reason"]["kind"] == "because_you_watched"
    assert first["reason"]["title_id"] == "title-0001"
    assert first["reason"]["text"].startswith("Because you watched ")


def test_a_new_profile_gets_its_regions_popular_titles(
    client: TestClient, stack: ServiceSettings
) -> None:
    veteran = signed_in_user(stack)
    veteran_profile = new_profile(stack, veteran.account_id)
    client.post(
        f"/recommendations/profiles/{veteran_profile}/events",
        json={"title_id": "title-0003", "kind": "play"},
        headers=veteran.headers,
    )
    run_nightly(stack)
    newcomer = signed_in_user(stack)
    profile = new_profile(stack, newcomer.account_id)
    body = client.get(f"/recommendations/profiles/{profile}", headers=newcomer.headers).json()
    assert body["generated_at"] is None
    assert [p["title_id"] for p in body["picks"]] == ["title-0003"]
    assert body["picks"][0]["reason"] == {
        "kind": "popular_in_region",
        "title_id": None,
        "title_name": None,
        "region": "US",
        "text": "Popular in US",
    }


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"title_id": "title-0001", "kind": "rewind"}, 422),
        ({"title_id": "../etc", "kind": "play"}, 422),
        ({"title_id": "title-0001", "kind": "play", "position_s": -1}, 422),
    ],
)
def test_bad_events_are_refused(
    client: TestClient, stack: ServiceSettings, body: dict[str, object], status: int
) -> None:
    viewer = signed_in_user(stack)
    profile = new_profile(stack, viewer.account_id)
    response = client.post(
        f"/recommendations/profiles/{profile}/events", json=body, headers=viewer.headers
    )
    assert response.status_code == status


def test_someone_elses_profile_is_404(client: TestClient, stack: ServiceSettings) -> None:
    owner, stranger = signed_in_user(stack), signed_in_user(stack)
    profile = new_profile(stack, owner.account_id)
    path = f"/recommendations/profiles/{profile}"
    assert client.get(path, headers=stranger.headers).status_code == 404
    event = {"title_id": "title-0001", "kind": "play"}
    assert client.post(f"{path}/events", json=event, headers=stranger.headers).status_code == 404
    assert client.get(path).status_code == 401
