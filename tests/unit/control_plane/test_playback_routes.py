"""Playback against moto: token, entitlement, maturity, the session's renditions, play event."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from control_plane.auth.models import ProfileCreate
from control_plane.auth.profiles import ProfileStore
from control_plane.catalog.models import MaturityRating, Title
from control_plane.common.settings import ServiceSettings
from control_plane.playback.app import create_app
from control_plane.recommendations.events import EventStore
from edgefill_contracts import PlaybackResponse
from tests.support.playback_world import (
    CLIENT_IP,
    StaticFleet,
    Viewer,
    expiry_window,
    put_titles,
    subscribed_viewer,
)
from tests.support.subscriber import signed_in_user


@pytest.fixture
def titles(stack: ServiceSettings) -> list[Title]:
    return put_titles(stack, 8)


def make_client(stack: ServiceSettings, titles: list[Title], ip: str = CLIENT_IP) -> TestClient:
    app = create_app(stack)
    app.state.playback = replace(app.state.playback, fleet=StaticFleet(titles))
    return TestClient(app, client=(ip, 40000))


def test_steering_reads_the_fleet_through_a_cache_of_the_configured_age(
    stack: ServiceSettings,
) -> None:
    app = create_app(stack.model_copy(update={"fleet_view_ttl_s": 7.0}))
    assert app.state.playback.fleet.refresh_interval == timedelta(seconds=7)


@pytest.fixture
def client(stack: ServiceSettings, titles: list[Title]) -> Iterator[TestClient]:
    with make_client(stack, titles) as client:
        yield client


@pytest.fixture
def viewer(stack: ServiceSettings) -> Viewer:
    return subscribed_viewer(stack)  # standard plan: up to 240p


def title_rated(titles: list[Title], *ratings: MaturityRating) -> Title:
    return next(t for t in titles if t.maturity in ratings)


def test_play_answers_a_session_of_the_plans_renditions_and_records_the_play(
    client: TestClient, stack: ServiceSettings, viewer: Viewer, titles: list[Title]
) -> None:
    title = titles[0]
    response = client.post(
        "/playback/start",
        json={"profile_id": viewer.profile_id, "title_id": title.title_id},
        headers=viewer.user.headers,
    )
    assert response.status_code == 200, response.text
    body = PlaybackResponse.model_validate(response.json())
    assert body.rendition == "240p"  # the best the standard plan allows
    assert body.renditions == ["144p", "240p"]
    assert body.session.pathways[-1] == "origin"
    assert set(body.session.pathways[:-1]) == {"appliance-1", "appliance-2"}
    low, high = expiry_window()
    assert low < body.session.expires_at < high
    # The answer carries no per-file URL and no signature: only the session's own routes.
    assert "X-Amz-Signature" not in response.text and "/t/" not in response.text
    events = list(EventStore.from_settings(stack).since(datetime(2020, 1, 1, tzinfo=UTC)))
    assert [(e.title_id, e.kind.value, e.profile_id) for e in events] == [
        (title.title_id, "play", viewer.profile_id)
    ]


def test_requested_rendition_within_the_plan(
    client: TestClient, viewer: Viewer, titles: list[Title]
) -> None:
    response = client.post(
        "/playback/start",
        json={"profile_id": viewer.profile_id, "title_id": titles[0].title_id, "rendition": "144p"},
        headers=viewer.user.headers,
    )
    assert response.status_code == 200, response.text
    body = PlaybackResponse.model_validate(response.json())
    # A requested rendition is the session's ceiling: the player never gets anything above it.
    assert (body.rendition, body.renditions) == ("144p", ["144p"])
    multivariant = client.get(httpx.URL(body.session.hls_url).path).text
    assert "/144p/" in multivariant and "/240p/" not in multivariant


@pytest.mark.parametrize(
    ("rendition", "status", "code"),
    [("360p", 403, "rendition_not_allowed"), ("1080p", 404, "rendition_missing")],
)
def test_rendition_failures(
    client: TestClient, viewer: Viewer, titles: list[Title], rendition: str, status: int, code: str
) -> None:
    response = client.post(
        "/playback/start",
        json={
            "profile_id": viewer.profile_id,
            "title_id": titles[0].title_id,
            "rendition": rendition,
        },
        headers=viewer.user.headers,
    )
    assert (response.status_code, response.json()["error"]) == (status, code)


def test_kids_profile_cannot_play_a_mature_title(
    client: TestClient, viewer: Viewer, titles: list[Title]
) -> None:
    mature = title_rated(titles, MaturityRating.R, MaturityRating.NC_17, MaturityRating.PG_13)
    response = client.post(
        "/playback/start",
        json={"profile_id": viewer.kids_profile_id, "title_id": mature.title_id},
        headers=viewer.user.headers,
    )
    assert (response.status_code, response.json()["error"]) == (403, "maturity_restricted")


def test_without_a_subscription_playback_is_refused(
    client: TestClient, stack: ServiceSettings, titles: list[Title]
) -> None:
    user = signed_in_user(stack)
    profile = ProfileStore.from_settings(stack).create(
        account_id=user.account_id, profile=ProfileCreate(name="me")
    )
    response = client.post(
        "/playback/start",
        json={"profile_id": profile.profile_id, "title_id": titles[0].title_id},
        headers=user.headers,
    )
    assert (response.status_code, response.json()["error"]) == (403, "not_entitled")


def test_unknown_title_profile_and_token(client: TestClient, viewer: Viewer) -> None:
    unknown_title = client.post(
        "/playback/start",
        json={"profile_id": viewer.profile_id, "title_id": "title-9999"},
        headers=viewer.user.headers,
    )
    assert unknown_title.status_code == 404
    unknown_profile = client.post(
        "/playback/start",
        json={"profile_id": "p-000000000000", "title_id": "title-0001"},
        headers=viewer.user.headers,
    )
    assert unknown_profile.status_code == 404
    no_token = client.post(
        "/playback/start", json={"profile_id": viewer.profile_id, "title_id": "title-0001"}
    )
    assert no_token.status_code == 401
