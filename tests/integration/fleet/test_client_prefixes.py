"""A site's client prefixes reach its appliances: each ack names their version (written with
the site, no read of it per heartbeat) and GET .../client-prefixes answers the set."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from control_plane.fleet.registry import MAX_SITE_APPLIANCES_PER_WRITE
from edgefill_contracts.fleet_api import ClientPrefixes
from edgefill_contracts.prefixes import prefix_set_version
from tests.integration.fleet.support import FleetHarness


def _prefixes(fleet: FleetHarness, appliance_id: str, auth: dict[str, str]) -> ClientPrefixes:
    response = fleet.client.get(
        f"/fleet/v1/appliances/{appliance_id}/client-prefixes", headers=auth
    )
    assert response.status_code == 200, response.text
    return ClientPrefixes.model_validate_json(response.content)


def test_a_site_change_reaches_every_appliance_of_the_site_and_no_other(
    fleet: FleetHarness,
) -> None:
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    fleet.put_site("fra-1", isp="isp-b", prefixes=["203.0.113.0/24"])
    fleet.put_cluster("c1", "ams-1")
    fleet.put_cluster("c2", "fra-1")
    fleet.put_appliance("a1", site_id="ams-1", cluster_id="c1")
    fleet.put_appliance("a2", site_id="ams-1", cluster_id="c1")
    fleet.put_appliance("f1", site_id="fra-1", cluster_id="c2")
    auth = {a: fleet.register(a) for a in ("a1", "a2", "f1")}

    first = prefix_set_version(["198.51.100.0/24"])
    assert fleet.heartbeat("a1", auth["a1"])["client_prefixes_version"] == first
    answered = _prefixes(fleet, "a1", auth["a1"])
    assert answered == ClientPrefixes(site_id="ams-1", version=first, prefixes=("198.51.100.0/24",))
    fra = fleet.heartbeat("f1", auth["f1"])["client_prefixes_version"]

    fleet.put_site("ams-1", prefixes=["198.51.100.0/24", "2001:db8:1::/48"])
    second = prefix_set_version(["2001:db8:1::/48", "198.51.100.0/24"])
    assert second != first
    for appliance in ("a1", "a2"):
        assert fleet.heartbeat(appliance, auth[appliance])["client_prefixes_version"] == second
        assert _prefixes(fleet, appliance, auth[appliance]).version == second
    assert fleet.heartbeat("f1", auth["f1"])["client_prefixes_version"] == fra, "fra-1 untouched"
    assert set(_prefixes(fleet, "f1", auth["f1"]).prefixes) == {"203.0.113.0/24"}


def test_an_appliance_declared_after_its_site_names_the_sites_version(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    fleet.put_cluster("c1", "ams-1")
    fleet.put_appliance("a1", site_id="ams-1", cluster_id="c1")
    record = fleet.client.get("/fleet/v1/admin/appliances/a1", headers=fleet.admin).json()
    assert record["client_prefixes_version"] == prefix_set_version(["198.51.100.0/24"])


def test_a_set_cut_on_the_way_is_refused_by_the_contract() -> None:
    version = prefix_set_version(["198.51.100.0/24", "203.0.113.0/24"])
    with pytest.raises(ValidationError, match="cut or altered"):
        ClientPrefixes(site_id="ams-1", version=version, prefixes=("198.51.100.0/24",))


def test_a_site_too_large_for_one_transaction_is_refused_and_unchanged(
    fleet: FleetHarness,
) -> None:
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    fleet.put_cluster("c1", "ams-1")
    for n in range(MAX_SITE_APPLIANCES_PER_WRITE + 1):
        fleet.put_appliance(f"a{n:03d}", site_id="ams-1", cluster_id="c1")
    fleet.allocate("isp-a", ["203.0.113.0/24"])
    body = {"isp": "isp-a", "location": "Amsterdam", "prefixes": ["203.0.113.0/24"]}
    refused = fleet.client.put("/fleet/v1/admin/sites/ams-1", json=body, headers=fleet.admin)
    assert refused.status_code == 400
    assert f"at most {MAX_SITE_APPLIANCES_PER_WRITE}" in refused.json()["message"]
    site = fleet.client.get("/fleet/v1/admin/sites/ams-1", headers=fleet.admin).json()
    assert site["prefixes"] == ["198.51.100.0/24"], "nothing written"
