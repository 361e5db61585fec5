"""The local gateway routes by longest prefix with the path unchanged, like API Gateway."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient

from control_plane.common.settings import ServiceSettings
from lab.gateway import LocalGateway, _Route


def echo_app(name: str) -> FastAPI:
    app = FastAPI()
    router = APIRouter()

    @router.get("/{rest:path}")
    def echo(request: Request, rest: str) -> dict[str, str]:
        client = request.client.host if request.client else ""
        return {"service": name, "path": request.url.path, "client": client}

    app.include_router(router)
    return app


def make_gateway() -> LocalGateway:
    return LocalGateway(
        [
            _Route(prefix="/fleet/v1", service="fleet", app=echo_app("fleet")),
            _Route(prefix="/fleet/v1/admin", service="admin", app=echo_app("admin")),
            _Route(prefix="/catalog", service="catalog", app=echo_app("catalog")),
        ]
    )


def test_longest_prefix_wins_and_path_is_kept() -> None:
    with TestClient(make_gateway()) as client:
        admin = client.get("/fleet/v1/admin/sites").json()
        assert (admin["service"], admin["path"]) == ("admin", "/fleet/v1/admin/sites")
        assert client.get("/fleet/v1/appliances/a/manifest").json()["service"] == "fleet"
        catalog = client.get("/catalog/titles").json()
        assert (catalog["service"], catalog["path"]) == ("catalog", "/catalog/titles")


def test_prefix_must_end_at_a_path_boundary() -> None:
    with TestClient(make_gateway()) as client:
        response = client.get("/catalogue/x")
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


def test_settings_are_not_needed_for_routing() -> None:
    # Building needs settings only for the apps; an empty registry gives a gateway that 404s.
    from lab.gateway import build_gateway

    gateway = build_gateway(ServiceSettings(environment="development"), services=[])
    with TestClient(gateway) as client:
        assert client.get("/anything").status_code == 404


def test_lab_client_ip_header_becomes_the_client_address() -> None:
    with TestClient(make_gateway()) as client:
        seen = client.get("/catalog/x", headers={"X-Lab-Client-IP": "2001:db8::7"}).json()
        assert seen["client"] == "2001:db8::7"
        ignored = client.get("/catalog/x", headers={"X-Lab-Client-IP": "not-an-ip"}).json()
        assert ignored["client"] == "testclient"
