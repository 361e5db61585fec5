"""The shared app factory: every service gets the same error mapping, limits and health route."""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, ValidationError

from control_plane.common.app_factory import create_service_app
from control_plane.common.errors import Conflict
from control_plane.common.settings import Environment, ServiceSettings


class Thing(BaseModel):
    name: str = Field(min_length=1, max_length=10)


def make_client() -> TestClient:
    router = APIRouter()

    @router.post("/things")
    def create(thing: Thing) -> Thing:
        if thing.name == "taken":
            raise Conflict("thing 'taken' exists; pick another name")
        return thing

    settings = ServiceSettings(environment=Environment.DEVELOPMENT, max_body_bytes=2048)
    return TestClient(create_service_app(service="test", settings=settings, routers=[router]))


def test_healthz() -> None:
    assert make_client().get("/healthz").json() == {"service": "test", "status": "ok"}


def test_validation_error_is_422_with_a_readable_message() -> None:
    response = make_client().post("/things", json={"name": ""})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert "name" in response.json()["message"]


def test_domain_error_maps_to_its_status() -> None:
    response = make_client().post("/things", json={"name": "taken"})
    assert response.status_code == 409
    assert response.json() == {
        "error": "conflict",
        "message": "thing 'taken' exists; pick another name",
    }


def test_oversized_body_is_413_before_parsing() -> None:
    response = make_client().post(
        "/things", content=b"x" * 4096, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_malformed_json_is_422_not_500() -> None:
    response = make_client().post(
        "/things", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_production_refuses_empty_secrets() -> None:
    with pytest.raises(ValidationError, match="EDGEFILL_ADMIN_TOKEN"):
        ServiceSettings(environment=Environment.PRODUCTION)


def test_fleet_view_age_comes_from_the_environment_and_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EDGEFILL_FLEET_VIEW_TTL_S", "7")
    assert ServiceSettings(environment=Environment.DEVELOPMENT).fleet_view_ttl_s == 7
    for bad in ("0", "601", "soon"):
        monkeypatch.setenv("EDGEFILL_FLEET_VIEW_TTL_S", bad)
        with pytest.raises(ValidationError, match="fleet_view_ttl_s"):
            ServiceSettings(environment=Environment.DEVELOPMENT)
