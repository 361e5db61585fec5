"""The edgefill_fleet inventory plugin against a stand-in fleet API on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from control_plane.fleet.health import HealthStatus
from control_plane.fleet.inventory import Inventory, InventoryAppliance, InventorySite
from control_plane.fleet.models import Lifecycle
from edgefill_contracts import ApplianceState, FillWindow
from tests.integration.ansible.fleet_standin import ApplianceRecord, FleetStandIn, serve, serve_app
from tests.integration.ansible.support import VENV_BIN, ansible_env, run

ADMIN_TOKEN = "inventory-admin-token"


@pytest.fixture
def fleet() -> FleetStandIn:
    fleet = FleetStandIn(admin_token=ADMIN_TOKEN, bootstrap_tokens={})
    fleet.records["ams1-oca01"] = ApplianceRecord(
        appliance_id="ams1-oca01",
        address="192.0.2.11",
        isp="example-net",
        site="lab1",
        cluster="lab1-a",
        state=ApplianceState.SERVING,
        healthy=True,
        agent_version="0.1.0",
    )
    fleet.records["ams1-oca02"] = ApplianceRecord(
        appliance_id="ams1-oca02",
        address="192.0.2.12",
        isp="example-net",
        site="lab1",
        cluster="lab1-b",
        state=ApplianceState.DRAINED,
        healthy=False,
        agent_version="0.1.0",
    )
    return fleet


@pytest.fixture
def fleet_url(fleet: FleetStandIn) -> Iterator[str]:
    with serve(fleet, host="127.0.0.1") as url:
        yield url


def write_source(tmp_path: Path, url: str, **options: object) -> Path:
    config = {"plugin": "edgefill_fleet", "url": url, **options}
    path = tmp_path / "fleet.edgefill_fleet.yml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


UNSAFE = "__ansible_unsafe"


def unwrap_unsafe(value: object) -> object:
    """ansible-inventory marks strings that must never be templated as {"__ansible_unsafe": s}."""
    if isinstance(value, dict):
        if set(value) == {UNSAFE}:
            return value[UNSAFE]
        return {key: unwrap_unsafe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap_unsafe(item) for item in value]
    return value


def inventory_raw(tmp_path: Path, source: Path, token: str = ADMIN_TOKEN) -> dict[str, Any]:
    env = ansible_env(tmp_path, EDGEFILL_FLEET_ADMIN_TOKEN=token)
    result = run([str(VENV_BIN / "ansible-inventory"), "-i", str(source), "--list"], env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def inventory(tmp_path: Path, source: Path, token: str = ADMIN_TOKEN) -> dict[str, Any]:
    return unwrap_unsafe(inventory_raw(tmp_path, source, token))  # type: ignore[return-value]


def test_hosts_groups_and_vars_come_from_the_registry(tmp_path: Path, fleet_url: str) -> None:
    data = inventory(tmp_path, write_source(tmp_path, fleet_url))

    hostvars = data["_meta"]["hostvars"]
    assert set(hostvars) == {"ams1-oca01", "ams1-oca02"}
    first = hostvars["ams1-oca01"]
    assert first["ansible_host"] == "192.0.2.11"
    assert first["appliance_agent_id"] == "ams1-oca01"
    assert first["appliance_host_timezone"] == "Europe/Amsterdam"
    assert first["appliance_agent_fill_window"]["start"] == "02:00"
    assert first["edgefill_site_prefixes"] == ["192.0.2.0/24"]
    assert first["edgefill_healthy"] is True
    assert sorted(data["appliances"]["hosts"]) == ["ams1-oca01", "ams1-oca02"]
    assert sorted(data["site_lab1"]["hosts"]) == ["ams1-oca01", "ams1-oca02"]
    assert data["cluster_lab1_b"]["hosts"] == ["ams1-oca02"]
    assert "isp_example_net" in data


def test_values_from_the_api_are_never_templated(tmp_path: Path, fleet: FleetStandIn) -> None:
    fleet.records["ams1-oca01"].agent_version = "{{ lookup('env', 'HOME') }}"
    with serve(fleet, host="127.0.0.1") as url:
        raw = inventory_raw(tmp_path, write_source(tmp_path, url))

    version = raw["_meta"]["hostvars"]["ams1-oca01"]["edgefill_agent_version"]
    assert version == {UNSAFE: "{{ lookup('env', 'HOME') }}"}


def test_keyed_groups_compose_and_state_filter(tmp_path: Path, fleet_url: str) -> None:
    source = write_source(
        tmp_path,
        fleet_url,
        keyed_groups=[{"key": "edgefill_state", "prefix": "state"}],
        compose={"appliance_agent_byte_budget": "(edgefill_capacity_bytes * 0.9) | int"},
        groups={"unhealthy": "not edgefill_healthy"},
    )
    data = inventory(tmp_path, source)
    assert data["state_Serving"]["hosts"] == ["ams1-oca01"]
    assert data["state_Drained"]["hosts"] == ["ams1-oca02"]
    assert data["unhealthy"]["hosts"] == ["ams1-oca02"]
    hostvars = data["_meta"]["hostvars"]
    assert hostvars["ams1-oca01"]["appliance_agent_byte_budget"] == 3_600_000_000_000

    only_serving = inventory(tmp_path, write_source(tmp_path, fleet_url, states=["Serving"]))
    assert set(only_serving["_meta"]["hostvars"]) == {"ams1-oca01"}


def test_cache_answers_when_the_api_is_gone(tmp_path: Path, fleet: FleetStandIn) -> None:
    cache_options = {
        "cache": True,
        "cache_plugin": "ansible.builtin.jsonfile",
        "cache_connection": str(tmp_path / "cache"),
        "cache_timeout": 600,
    }
    with serve(fleet, host="127.0.0.1") as url:
        source = write_source(tmp_path, url, **cache_options)
        first = inventory(tmp_path, source)
    fleet.records.clear()  # even a restarted API would now answer differently

    second = inventory(tmp_path, source)

    assert second["_meta"] == first["_meta"]
    assert list((tmp_path / "cache").iterdir()), "the plugin wrote no cache file"


@pytest.mark.parametrize(
    ("token", "url_suffix", "expected"),
    [
        ("wrong-token", "", "answered HTTP 401: check the admin token"),
        (ADMIN_TOKEN, "/nothing-here", "answered HTTP 404: check the URL"),
    ],
)
def test_api_errors_say_what_to_fix(
    tmp_path: Path, fleet_url: str, token: str, url_suffix: str, expected: str
) -> None:
    source = write_source(tmp_path, fleet_url + url_suffix)
    env = ansible_env(
        tmp_path, EDGEFILL_FLEET_ADMIN_TOKEN=token, ANSIBLE_INVENTORY_UNPARSED_FAILED="1"
    )

    result = run([str(VENV_BIN / "ansible-inventory"), "-i", str(source), "--list"], env=env)

    assert result.returncode != 0
    assert expected in result.stderr
    assert token not in result.stderr


def test_unreachable_api_fails_with_a_hint(tmp_path: Path) -> None:
    source = write_source(tmp_path, "http://127.0.0.1:9")
    env = ansible_env(
        tmp_path, EDGEFILL_FLEET_ADMIN_TOKEN=ADMIN_TOKEN, ANSIBLE_INVENTORY_UNPARSED_FAILED="1"
    )

    result = run([str(VENV_BIN / "ansible-inventory"), "-i", str(source), "--list"], env=env)

    assert result.returncode != 0
    assert "check that the fleet API is reachable" in result.stderr


def test_reads_the_real_fleet_inventory_model(tmp_path: Path) -> None:
    """The plugin against the control plane's own Inventory model, serialised as FastAPI does."""
    now = datetime.now(UTC)
    registry = Inventory(
        generated_at=now,
        appliances=[
            InventoryAppliance(
                appliance_id="fra1-oca01",
                site="fra1",
                cluster="fra1-a",
                isp="sample-telecom",
                location="Frankfurt",
                address="198.51.100.11",
                addresses=["198.51.100.11"],
                public_base_url="https://fra1-oca01.example.net",
                capacity_bytes=4_000_000_000_000,
                state=ApplianceState.SERVING,
                lifecycle=Lifecycle.ACTIVE,
                health=HealthStatus.OK,
                healthy=True,
                health_reason="ok",
                components={"nginx": HealthStatus.OK},
                agent_version="0.1.0",
                manifest_version_applied=None,
            )
        ],
        sites=[
            InventorySite(
                site="fra1",
                isp="sample-telecom",
                location="Frankfurt",
                timezone="Europe/Berlin",
                fill_window=FillWindow(
                    start=time(1, 30), end=time(12, 0), timezone="Europe/Berlin"
                ),
                prefixes=["198.51.100.0/24"],
            )
        ],
    )
    app = FastAPI()

    @app.get("/fleet/v1/inventory")
    def inventory_route() -> Inventory:
        return registry

    with serve_app(app, host="127.0.0.1") as url:
        data = inventory(tmp_path, write_source(tmp_path, url))

    host = data["_meta"]["hostvars"]["fra1-oca01"]
    assert host["ansible_host"] == "198.51.100.11"
    assert host["appliance_host_timezone"] == "Europe/Berlin"
    assert host["appliance_agent_fill_window"]["start"] == "01:30:00"
    assert host["edgefill_state"] == "Serving"
    assert data["isp_sample_telecom"]["hosts"] == ["fra1-oca01"]
