"""Explained steering over HTTP: operators only, the title's renditions, clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from control_plane.catalog.models import Title
from control_plane.common.settings import ServiceSettings
from control_plane.steering import SteeringExplanation
from tests.support.playback_world import CLIENT_IP, OUTSIDE_IP, put_titles, subscribed_viewer
from tests.unit.control_plane.test_playback_routes import make_client

ROUTE = "/playback/admin/steering/explain"


@pytest.fixture
def titles(stack: ServiceSettings) -> list[Title]:
    return put_titles(stack, 2, upload=False)


@pytest.fixture
def client(stack: ServiceSettings, titles: list[Title]) -> Iterator[TestClient]:
    with make_client(stack, titles) as client:
        yield client


@pytest.fixture
def admin(stack: ServiceSettings) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.admin_token.get_secret_value()}"}


def test_an_operator_sees_why_a_session_plays_where_it_does(
    client: TestClient, admin: dict[str, str], titles: list[Title]
) -> None:
    title = titles[0]
    response = client.get(
        ROUTE,
        params={"client_ip": CLIENT_IP, "title_id": title.title_id, "max_rendition": "240p"},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    got = SteeringExplanation.model_validate(response.json())
    assert (got.matched_prefix, got.client_site_id) == ("198.51.100.0/24", "site-a")
    assert got.units == [f"{title.title_id}/{r.name}" for r in title.renditions if r.height <= 240]
    assert got.pathways[-1] == "origin"
    assert set(got.pathways[:-1]) == {"appliance-1", "appliance-2"}
    assert {c.verdict.value for c in got.candidates} == {"ranked"}


def test_outside_every_site_it_says_origin_only(
    client: TestClient, admin: dict[str, str], titles: list[Title]
) -> None:
    response = client.get(
        ROUTE, params={"client_ip": OUTSIDE_IP, "title_id": titles[0].title_id}, headers=admin
    )
    assert response.status_code == 200
    assert response.json()["pathways"] == ["origin"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eA=="}],
    ids=["none", "wrong-token", "other-scheme"],
)
def test_only_operators_may_ask(
    client: TestClient, titles: list[Title], headers: dict[str, str]
) -> None:
    response = client.get(
        ROUTE, params={"client_ip": CLIENT_IP, "title_id": titles[0].title_id}, headers=headers
    )
    assert response.status_code == 401
    assert "pathways" not in response.text


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"client_ip": "not-an-ip", "title_id": "title-0001"}, 400),
        ({"client_ip": CLIENT_IP, "title_id": "title-9999"}, 404),
        ({"client_ip": CLIENT_IP, "title_id": "title-0001", "max_rendition": "huge"}, 422),
        ({"title_id": "title-0001"}, 422),
    ],
    ids=["bad-ip", "unknown-title", "bad-ceiling", "no-ip"],
)
def test_bad_questions_get_a_clear_4xx(
    client: TestClient, admin: dict[str, str], params: dict[str, str], status: int
) -> None:
    response = client.get(ROUTE, params=params, headers=admin)
    assert response.status_code == status, response.text
    assert response.json()["message"]


@pytest.mark.parametrize("every", [1, 0], ids=["every-session", "off"])
def test_sampled_sessions_log_their_decision_without_the_client_address(
    stack: ServiceSettings, titles: list[Title], every: int, caplog: pytest.LogCaptureFixture
) -> None:
    viewer = subscribed_viewer(stack)
    settings = stack.model_copy(update={"steering_decision_log_every": every})
    with make_client(settings, titles) as client, caplog.at_level("INFO"):
        response = client.post(
            "/playback/start",
            json={"profile_id": viewer.profile_id, "title_id": titles[0].title_id},
            headers=viewer.user.headers,
        )
    assert response.status_code == 200, response.text
    lines = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("steering decision")
    ]
    if not every:
        assert lines == []
        return
    [line] = lines
    logged = json.loads(line.removeprefix("steering decision "))
    assert logged["client_site_id"] == "site-a" and logged["pathways"][-1] == "origin"
    assert "client_ip" not in logged and CLIENT_IP not in line
