"""The lab declares its plan through the fleet admin API as an operator would: ISPs' address
space first, then sites, clusters and appliances; twice is the same as once."""

from __future__ import annotations

from control_plane.fleet.app import create_app
from lab.control_plane import FleetAdmin
from lab.plan import default_plan
from tests.integration.agent_serve.fleet_server import serve_app
from tests.integration.fleet.support import FleetHarness


def test_the_lab_plan_declares_and_redeclares(fleet: FleetHarness) -> None:
    running = serve_app(create_app(fleet.settings, context=fleet.context))
    admin = FleetAdmin(running.url, fleet.settings.admin_token.get_secret_value())
    plan = default_plan()
    try:
        admin.declare(plan)
        admin.declare(plan)
    finally:
        admin.close()
        running.stop()
    isps = fleet.client.get("/fleet/v1/admin/isps", headers=fleet.admin).json()["isps"]
    assert isps == plan.isp_allocations()
    for site in plan.sites:
        stored = fleet.client.get(f"/fleet/v1/admin/sites/{site.site_id}", headers=fleet.admin)
        assert stored.status_code == 200 and stored.json()["prefixes"] == site.prefixes
