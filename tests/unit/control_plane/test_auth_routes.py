"""Auth and profile routes against moto's Cognito and DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from control_plane.auth.app import create_app
from control_plane.auth.profiles import MAX_PROFILES
from control_plane.common.settings import ServiceSettings
from tests.support.subscriber import PASSWORD, SignedIn, signed_in_user

WRONG_LOGIN = {"error": "unauthorized", "message": "email or password is wrong"}


@pytest.fixture
def client(stack: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(stack)) as client:
        yield client


@pytest.fixture
def user(stack: ServiceSettings) -> SignedIn:
    return signed_in_user(stack)


def sign_up(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, object]:
    response = client.post("/auth/signup", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def test_sign_up_confirm_log_in_and_use_the_token(client: TestClient) -> None:
    created = sign_up(client, "ada@example.com")
    assert created["confirmed"] is False
    confirmed = client.post("/auth/confirm", json={"email": "ada@example.com", "code": "123456"})
    assert confirmed.status_code == 204
    tokens = client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    ).json()
    assert tokens["refresh_token"] and tokens["token_type"] == "Bearer"
    profiles = client.get(
        "/profiles", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert profiles.status_code == 200 and profiles.json() == []


def test_duplicate_sign_up_is_409(client: TestClient) -> None:
    sign_up(client, "dup@example.com")
    again = client.post("/auth/signup", json={"email": "dup@example.com", "password": PASSWORD})
    assert again.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "x@example.com", "password": "short"},
        {"email": "x@example.com"},
        {"email": "x@example.com", "password": PASSWORD, "admin": True},
    ],
)
def test_sign_up_validation(client: TestClient, body: dict[str, object]) -> None:
    assert client.post("/auth/signup", json=body).status_code == 422


def test_unconfirmed_user_cannot_log_in(client: TestClient) -> None:
    sign_up(client, "new@example.com")
    response = client.post("/auth/login", json={"email": "new@example.com", "password": PASSWORD})
    assert response.status_code == 403
    assert "confirm" in response.json()["message"]


def test_wrong_password_and_unknown_user_look_the_same(client: TestClient, user: SignedIn) -> None:
    wrong = client.post("/auth/login", json={"email": user.email, "password": "Wrong-pass-1"})
    unknown = client.post("/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    assert (wrong.status_code, wrong.json()) == (401, WRONG_LOGIN)
    assert (unknown.status_code, unknown.json()) == (401, WRONG_LOGIN)


def test_refresh_gives_a_working_access_token(client: TestClient, user: SignedIn) -> None:
    refreshed = client.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert refreshed.status_code == 200
    body = refreshed.json()
    assert body["refresh_token"] is None
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/profiles", headers=headers).status_code == 200


def test_a_made_up_refresh_token_is_401(client: TestClient) -> None:
    response = client.post("/auth/refresh", json={"refresh_token": "made-up"})
    assert response.status_code == 401


def test_logout_ends_the_session_at_once(client: TestClient, user: SignedIn) -> None:
    assert client.post("/auth/logout", headers=user.headers).status_code == 204
    assert client.get("/profiles", headers=user.headers).status_code == 401
    # Refreshed tokens share the session id (origin_jti), so they are refused too.
    refreshed = client.post("/auth/refresh", json={"refresh_token": user.refresh_token}).json()
    again = client.get(
        "/profiles", headers={"Authorization": f"Bearer {refreshed['access_token']}"}
    )
    assert again.status_code == 401


def test_logout_everywhere_stops_refresh(client: TestClient, user: SignedIn) -> None:
    response = client.post("/auth/logout", params={"everywhere": "true"}, headers=user.headers)
    assert response.status_code == 204
    refresh = client.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert refresh.status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer x.y.z"},
    ],
)
def test_protected_routes_need_a_valid_token(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/profiles", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_profiles_up_to_the_limit(client: TestClient, user: SignedIn) -> None:
    created = [
        client.post(
            "/profiles", headers=user.headers, json={"name": f"kid {n}", "max_maturity": "PG"}
        )
        for n in range(MAX_PROFILES)
    ]
    assert [r.status_code for r in created] == [201] * MAX_PROFILES
    over = client.post("/profiles", headers=user.headers, json={"name": "one too many"})
    assert over.status_code == 409
    listed = client.get("/profiles", headers=user.headers).json()
    assert sorted(p["profile_id"] for p in listed) == sorted(
        r.json()["profile_id"] for r in created
    )
    first = created[0].json()["profile_id"]
    assert client.delete(f"/profiles/{first}", headers=user.headers).status_code == 204
    assert (
        client.post("/profiles", headers=user.headers, json={"name": "room now"}).status_code == 201
    )


def test_another_accounts_profile_is_404(
    client: TestClient, stack: ServiceSettings, user: SignedIn
) -> None:
    other = signed_in_user(stack)
    theirs = client.post("/profiles", headers=other.headers, json={"name": "theirs"}).json()
    path = f"/profiles/{theirs['profile_id']}"
    assert client.get(path, headers=user.headers).status_code == 404
    assert client.delete(path, headers=user.headers).status_code == 404
    assert client.get(path, headers=other.headers).json()["name"] == "theirs"


def test_deleting_a_missing_profile_is_404(client: TestClient, user: SignedIn) -> None:
    assert client.delete("/profiles/p-000000000000", headers=user.headers).status_code == 404
