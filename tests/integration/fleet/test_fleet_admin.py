"""Admin routes: authentication, validation, conflicts, inventory, popularity events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.integration.fleet.support import FleetHarness


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Appliance c1.x"},
        {"Authorization": "Bearer"},
    ],
    ids=["none", "wrong-token", "appliance-scheme", "empty-bearer"],
)
def test_admin_routes_need_the_operator_token(fleet: FleetHarness, headers: dict[str, str]) -> None:
    for method, path in (("get", "/fleet/v1/inventory"), ("put", "/fleet/v1/admin/sites/ams-1")):
        response = getattr(fleet.client, method)(
            path, headers=headers, **({"json": {}} if method == "put" else {})
        )
        assert response.status_code == 401
        assert "Bearer" in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"isp": "isp-a", "location": "x", "prefixes": ["198.51.100.1/24"]}, "host bits"),
        ({"isp": "isp-a", "location": "x", "prefixes": ["nonsense"]}, "not a network prefix"),
        ({"isp": "isp-a", "location": "x", "prefixes": ["10.0.0.0/8", "10.0.0.0/8"]}, "distinct"),
        ({"isp": "ISP A", "location": "x"}, "isp"),
        (
            {"isp": "isp-a", "location": "x", "fill_window": {"timezone": "Mars/Base"}},
            "unknown time zone",
        ),
        ({"isp": "isp-a", "location": "x", "surprise": 1}, "surprise"),
    ],
)
def test_bad_sites_are_422_with_a_message(
    fleet: FleetHarness, body: dict[str, object], fragment: str
) -> None:
    response = fleet.client.put("/fleet/v1/admin/sites/ams-1", json=body, headers=fleet.admin)
    assert response.status_code == 422
    assert fragment in response.json()["message"]


def test_a_prefix_announced_at_two_sites_is_a_conflict(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    response = fleet.client.put(
        "/fleet/v1/admin/sites/rtm-1",
        json={"isp": "isp-a", "location": "Rotterdam", "prefixes": ["198.51.100.0/24"]},
        headers=fleet.admin,
    )
    assert response.status_code == 409
    assert "already announced at site ams-1" in response.json()["message"]
    fleet.put_site("rtm-1", prefixes=["198.51.100.128/25"])  # more specific is fine


def test_appliances_need_an_existing_cluster_of_their_site(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1")
    fleet.put_site("rtm-1", prefixes=["203.0.113.0/24"])
    fleet.put_cluster("rtm-1-c1", "rtm-1")
    body = {
        "site_id": "ams-1",
        "cluster_id": "rtm-1-c1",
        "byte_budget": 1,
        "addresses": ["192.0.2.1"],
        "public_base_url": "https://a.example.net",
    }
    response = fleet.client.put("/fleet/v1/admin/appliances/a1", json=body, headers=fleet.admin)
    assert response.status_code == 400
    assert "is at site rtm-1" in response.json()["message"]
    missing = fleet.client.put(
        "/fleet/v1/admin/appliances/a1", json={**body, "cluster_id": "nope"}, headers=fleet.admin
    )
    assert missing.status_code == 404
    with_path = fleet.client.put(
        "/fleet/v1/admin/appliances/a1",
        json={
            **body,
            "cluster_id": "rtm-1-c1",
            "site_id": "rtm-1",
            "public_base_url": "https://a.example.net/x",
        },
        headers=fleet.admin,
    )
    assert with_path.status_code == 422
    assert "no path" in with_path.json()["message"]


def test_invalid_transitions_are_409(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1")
    fleet.put_cluster("c1", "ams-1")
    fleet.put_appliance("a1", site_id="ams-1", cluster_id="c1")
    response = fleet.client.post(
        "/fleet/v1/admin/appliances/a1/drain", json={}, headers=fleet.admin
    )
    assert response.status_code == 409  # declared appliances start Drained until they register
    assert "cannot drain an appliance that is Drained" in response.json()["message"]
    unknown = fleet.client.post("/fleet/v1/admin/appliances/zz/drain", json={}, headers=fleet.admin)
    assert unknown.status_code == 404


def test_inventory_lists_site_cluster_isp_addresses_state_and_health(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1", isp="isp-a")
    fleet.put_cluster("c1", "ams-1")
    fleet.put_appliance("a1", site_id="ams-1", cluster_id="c1")
    fleet.put_appliance("a2", site_id="ams-1", cluster_id="c1")
    auth = fleet.register("a1")
    fleet.heartbeat("a1", auth)
    fleet.clock.advance(10)
    fleet.heartbeat("a1", auth)
    inventory = fleet.client.get("/fleet/v1/inventory", headers=fleet.admin).json()
    entries = {e["appliance_id"]: e for e in inventory["appliances"]}
    assert entries["a1"] | {"components": None} == entries["a1"] | {
        "appliance_id": "a1",
        "site": "ams-1",
        "cluster": "c1",
        "isp": "isp-a",
        "location": "Amsterdam",
        "address": "192.0.2.10",
        "addresses": ["192.0.2.10"],
        "public_base_url": "https://a1.example.net:8443",
        "capacity_bytes": 10**9,
        "state": "Serving",
        "lifecycle": "active",
        "health": "OK",
        "healthy": True,
        "agent_version": "1.0",
        "components": None,
    }
    assert entries["a2"]["health"] == "Unknown"
    assert entries["a2"]["lifecycle"] == "provisioned"
    assert inventory["sites"] == [
        {
            "site": "ams-1",
            "isp": "isp-a",
            "location": "Amsterdam",
            "timezone": "UTC",
            "fill_window": {"start": "02:00:00", "end": "14:00:00", "timezone": "UTC"},
            "prefixes": ["198.51.100.0/24"],
        }
    ]


def test_state_changes_accept_no_body_as_ansible_sends_them(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1")
    fleet.put_cluster("c1", "ams-1")
    fleet.put_appliance("a1", site_id="ams-1", cluster_id="c1")
    fleet.register("a1")
    response = fleet.client.post("/fleet/v1/admin/appliances/a1/drain", headers=fleet.admin)
    assert response.status_code == 200
    assert response.json()["state"] == "Draining"
    assert response.json()["state_reason"] == "operator request"


def test_popularity_events_are_recorded(fleet: FleetHarness) -> None:
    event = {
        "title_id": "title-1",
        "rendition": "720p",
        "bytes_streamed": 3000,
        "unit_bytes": 1000,
        "at": datetime(2026, 3, 1, tzinfo=UTC).isoformat(),
    }
    response = fleet.client.post(
        "/fleet/v1/admin/popularity/events", json={"events": [event, event]}, headers=fleet.admin
    )
    assert response.json() == {"units_updated": 1}
    fleet.client.post(
        "/fleet/v1/admin/popularity/events", json={"events": [event]}, headers=fleet.admin
    )
    scores = list(fleet.context.popularity.scores(today=datetime(2026, 3, 1, tzinfo=UTC).date()))
    assert [(s.unit_id, s.score) for s in scores] == [("title-1/720p", 9.0)]
    bad = fleet.client.post(
        "/fleet/v1/admin/popularity/events",
        json={"events": [event | {"unit_bytes": 0}]},
        headers=fleet.admin,
    )
    assert bad.status_code == 422


def test_oversized_bodies_are_413(fleet: FleetHarness) -> None:
    body = b"x" * (fleet.settings.max_body_bytes + 1)
    response = fleet.client.post(
        "/fleet/v1/register", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_drain_and_undrain_are_idempotent_and_audited_once(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1")
    fleet.put_cluster("c1", "ams-1")
    fleet.put_appliance("a1", site_id="ams-1", cluster_id="c1")
    fleet.register("a1")
    for action, state in (("undrain", "Serving"), ("drain", "Draining"), ("drain", "Draining")):
        response = fleet.client.post(f"/fleet/v1/admin/appliances/a1/{action}", headers=fleet.admin)
        assert response.status_code == 200
        assert response.json()["state"] == state
    audit = fleet.client.get("/fleet/v1/admin/appliances/a1/audit", headers=fleet.admin).json()
    assert [e["action"] for e in reversed(audit)] == ["register", "drain"]
