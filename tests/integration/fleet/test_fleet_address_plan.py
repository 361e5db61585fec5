"""ISPs' address space against moto: a site announces only inside its ISP's space, no ISP's
space overlaps another's, a refusal names the conflict and changes nothing, and a site write
racing a change of the plan cannot slip a prefix past it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from control_plane.common.errors import BadRequest, Conflict
from control_plane.fleet import registry
from control_plane.fleet.models import MAX_ALLOCATIONS_TOTAL, AddressPlan, IspSpec, SiteSpec
from tests.integration.fleet.support import FleetHarness

NORTH = ["198.51.100.0/22", "2001:db8:100::/40"]
SOUTH = ["203.0.113.0/24"]


@pytest.fixture
def planned(fleet: FleetHarness) -> FleetHarness:
    for isp, blocks in (("isp-north", NORTH), ("isp-south", SOUTH)):
        response = fleet.client.put(
            f"/fleet/v1/admin/isps/{isp}", json={"allocations": blocks}, headers=fleet.admin
        )
        assert response.status_code == 200, response.text
    return fleet


def put_site(fleet: FleetHarness, site_id: str, isp: str, prefixes: list[str]) -> Any:
    return fleet.client.put(
        f"/fleet/v1/admin/sites/{site_id}",
        json={"isp": isp, "location": "x", "prefixes": prefixes},
        headers=fleet.admin,
    )


def plan(fleet: FleetHarness) -> dict[str, list[str]]:
    isps: dict[str, list[str]] = fleet.client.get(
        "/fleet/v1/admin/isps", headers=fleet.admin
    ).json()["isps"]
    return isps


def site_exists(fleet: FleetHarness, site_id: str) -> bool:
    return (
        fleet.client.get(f"/fleet/v1/admin/sites/{site_id}", headers=fleet.admin).status_code == 200
    )


def test_a_site_announces_inside_its_isps_space(planned: FleetHarness) -> None:
    response = put_site(planned, "ams1", "isp-north", ["198.51.101.0/24", "2001:db8:100:1::/64"])
    assert response.status_code == 200, response.text
    assert plan(planned) == {"isp-north": NORTH, "isp-south": SOUTH}


@pytest.mark.parametrize(
    ("prefix", "owner_block"),
    [
        ("203.0.113.128/25", "203.0.113.0/24"),  # a more specific inside another ISP's space
        ("203.0.112.0/23", "203.0.113.0/24"),  # a wider prefix swallowing another ISP's space
        ("203.0.113.0/24", "203.0.113.0/24"),
    ],
)
def test_a_prefix_in_another_isps_space_is_a_409_naming_the_owner(
    planned: FleetHarness, prefix: str, owner_block: str
) -> None:
    response = put_site(planned, "ams1", "isp-north", ["198.51.100.0/24", prefix])
    assert response.status_code == 409
    message = response.json()["message"]
    assert prefix in message and owner_block in message and "isp-south" in message
    assert not site_exists(planned, "ams1"), "nothing is written"


def test_a_prefix_outside_its_isps_space_is_a_400_saying_how_to_widen_it(
    planned: FleetHarness,
) -> None:
    response = put_site(planned, "ams1", "isp-north", ["192.0.2.0/24"])
    assert response.status_code == 400
    message = response.json()["message"]
    assert "192.0.2.0/24" in message and "198.51.100.0/22" in message
    assert "PUT /fleet/v1/admin/isps/isp-north" in message
    assert not site_exists(planned, "ams1")


def test_an_isp_with_no_registered_space_announces_nothing(planned: FleetHarness) -> None:
    response = put_site(planned, "fra1", "isp-east", ["192.0.2.0/24"])
    assert response.status_code == 400
    assert "isp-east has no registered address space" in response.json()["message"]
    # A site that announces nothing needs no space yet.
    assert put_site(planned, "fra1", "isp-east", []).status_code == 200


def test_an_existing_site_moved_to_another_space_is_refused_and_kept(
    planned: FleetHarness,
) -> None:
    assert put_site(planned, "ams1", "isp-north", ["198.51.100.0/24"]).status_code == 200
    assert put_site(planned, "ams1", "isp-south", ["198.51.100.0/24"]).status_code == 409
    kept = planned.client.get("/fleet/v1/admin/sites/ams1", headers=planned.admin).json()
    assert (kept["isp"], kept["prefixes"]) == ("isp-north", ["198.51.100.0/24"])


@pytest.mark.parametrize("block", ["203.0.113.0/25", "203.0.0.0/16", "203.0.113.0/24"])
def test_an_allocation_overlapping_another_isps_is_a_409(planned: FleetHarness, block: str) -> None:
    response = planned.client.put(
        "/fleet/v1/admin/isps/isp-north",
        json={"allocations": [*NORTH, block]},
        headers=planned.admin,
    )
    assert response.status_code == 409
    assert block in response.json()["message"] and "isp-south" in response.json()["message"]
    assert plan(planned)["isp-north"] == NORTH


def test_narrowing_a_space_under_a_sites_prefix_is_a_409_naming_the_site(
    planned: FleetHarness,
) -> None:
    assert put_site(planned, "ams1", "isp-north", ["198.51.102.0/24"]).status_code == 200
    response = planned.client.put(
        "/fleet/v1/admin/isps/isp-north",
        json={"allocations": ["198.51.100.0/23"]},
        headers=planned.admin,
    )
    assert response.status_code == 409
    assert "ams1" in response.json()["message"] and "198.51.102.0/24" in response.json()["message"]
    assert plan(planned)["isp-north"] == NORTH
    # Narrowing around what the sites announce is fine.
    response = planned.client.put(
        "/fleet/v1/admin/isps/isp-north",
        json={"allocations": ["198.51.102.0/23"]},
        headers=planned.admin,
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"allocations": []}, "at least 1"),
        ({"allocations": ["198.51.100.1/22"]}, "host bits"),
        ({"allocations": ["10.0.0.0/8", "10.0.0.0/8"]}, "distinct"),
        ({"allocations": ["nonsense"]}, "not a network prefix"),
        ({"allocations": ["10.0.0.0/8"], "extra": 1}, "extra"),
    ],
)
def test_bad_allocations_are_422(
    planned: FleetHarness, body: dict[str, object], fragment: str
) -> None:
    response = planned.client.put(
        "/fleet/v1/admin/isps/isp-north", json=body, headers=planned.admin
    )
    assert response.status_code == 422
    assert fragment in response.json()["message"]
    assert plan(planned)["isp-north"] == NORTH


def test_allocations_need_the_operator_token(planned: FleetHarness) -> None:
    response = planned.client.put("/fleet/v1/admin/isps/isp-x", json={"allocations": SOUTH})
    assert response.status_code == 401


def test_a_site_write_racing_a_narrowing_is_seen_by_it(
    planned: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The narrowing read the plan and the sites; a site write lands before it writes. Its
    conditional write fails, it reads again, sees the new prefix and refuses."""
    store = planned.context.store
    now = planned.clock()
    original = store.sites.scan
    raced: list[str] = []

    def scan_then_a_site_lands() -> Any:
        sites = list(original())
        if not raced:
            raced.append("ams1")
            registry.put_site(
                store,
                site_id="ams1",
                spec=SiteSpec(isp="isp-north", location="x", prefixes=["198.51.103.0/24"]),
                now=now,
            )
        return iter(sites)

    monkeypatch.setattr(store.sites, "scan", scan_then_a_site_lands)
    with pytest.raises(Conflict, match=re.escape("198.51.103.0/24")):
        registry.put_isp(
            store, isp="isp-north", spec=IspSpec(allocations=["198.51.100.0/23"]), now=now
        )
    assert raced == ["ams1"]
    assert plan(planned)["isp-north"] == NORTH


def test_a_narrowing_racing_a_site_write_is_seen_by_it(
    planned: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The site write checked its prefix against the plan; the plan narrows before it writes.
    Its transaction fails, it reads the plan again and refuses the prefix now outside."""
    store = planned.context.store
    now = planned.clock()
    original = store.sites.get
    raced: list[str] = []

    def get_after_a_narrowing(key: dict[str, str]) -> Any:
        if not raced:
            raced.append("narrowed")
            registry.put_isp(
                store, isp="isp-north", spec=IspSpec(allocations=["198.51.100.0/23"]), now=now
            )
        return original(key)

    monkeypatch.setattr(store.sites, "get", get_after_a_narrowing)
    with pytest.raises(BadRequest, match="outside ISP isp-north"):
        registry.put_site(
            store,
            site_id="ams1",
            spec=SiteSpec(isp="isp-north", location="x", prefixes=["198.51.103.0/24"]),
            now=now,
        )
    assert raced == ["narrowed"]
    assert not site_exists(planned, "ams1")


def test_the_plan_stops_at_its_total_so_its_item_stays_under_400_kb(
    planned: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the fleet-wide total a registration is a 400 saying what to register instead (at
    the real total, 10,000 IPv6 blocks are ~300 KB of the item's 400 KB: checked below)."""
    monkeypatch.setattr(registry, "MAX_ALLOCATIONS_TOTAL", 4)
    response = planned.client.put(
        "/fleet/v1/admin/isps/isp-east",
        json={"allocations": ["192.0.2.0/25", "192.0.2.128/25"]},
        headers=planned.admin,
    )
    assert response.status_code == 400
    assert "5 blocks, over its 4" in response.json()["message"]
    assert "isp-east" not in plan(planned)
    largest = AddressPlan(
        isps={
            f"isp-{n:04d}": [f"2001:db8:{n:x}:{b:x}00::/56" for b in range(10)]
            for n in range(MAX_ALLOCATIONS_TOTAL // 10)
        }
    )
    assert len(largest.model_dump_json()) < 350_000


def test_an_isp_with_many_blocks_is_named_in_short(planned: FleetHarness) -> None:
    blocks = [f"10.{n}.0.0/16" for n in range(40)]
    planned.allocate("isp-east", blocks)
    response = put_site(planned, "fra1", "isp-east", ["192.0.2.0/24"])
    assert response.status_code == 400
    message = response.json()["message"]
    assert "10.0.0.0/16" in message and "and 35 more" in message and "10.39.0.0/16" not in message
